"""Orders: stored once per idempotency key, moved only forward whatever order updates arrive in
(also under concurrent writers), an audit row per change, fills once per execId, leases."""

import asyncio
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db_user import (
    Actor,
    Fill,
    NewOrder,
    Order,
    OrderState,
    OrderUpdate,
    User,
    claim_unresolved_orders,
    create_user,
    forget_unsent_order,
    get_order,
    list_executions,
    list_orders,
    move_order,
    order_events,
    order_link_id_for,
    record_executions,
    record_send,
    save_bybit_credential,
    store_pending_order,
)

LEASE = timedelta(seconds=5)


async def _user_with_key(session: AsyncSession) -> tuple[int, int]:
    user = await create_user(session, f"{uuid.uuid4().hex[:12]}@example.com")
    credential = await save_bybit_credential(
        session,
        user_id=user.id,
        network="testnet",
        api_key="KEY" + uuid.uuid4().hex[:8],
        secret_ciphertext=b"c",
        key_id="k",
        read_only=False,
    )
    return user.id, credential.id


def _order(credential_id: int, qty: str = "0.01") -> NewOrder:
    return NewOrder(
        credential_id=credential_id,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        order_type="Limit",
        qty=Decimal(qty),
        price=Decimal("60000"),
        time_in_force="GTC",
        reduce_only=False,
    )


async def _store(session: AsyncSession, user_id: int, credential_id: int, key: str = "k-1") -> Order:
    order, created = await store_pending_order(
        session,
        user_id=user_id,
        idempotency_key=key,
        request_hash="h",
        order=_order(credential_id),
        lease=LEASE,
        actor=Actor.token(7, "10.0.0.1"),
    )
    assert created
    return order


async def test_one_order_per_key_and_a_link_id_of_the_pair(user_session: AsyncSession) -> None:
    user_id, credential_id = await _user_with_key(user_session)
    other_id, other_credential = await _user_with_key(user_session)
    first = await _store(user_session, user_id, credential_id)
    again, created = await store_pending_order(
        user_session,
        user_id=user_id,
        idempotency_key="k-1",
        request_hash="different",
        order=_order(credential_id, qty="5"),
        lease=LEASE,
        actor=Actor(),
    )
    assert not created
    assert again.id == first.id
    assert again.request_hash == "h"
    assert again.qty == Decimal("0.01")
    assert first.state == OrderState.PENDING
    assert first.order_link_id == order_link_id_for(user_id, "k-1")
    assert len(first.order_link_id) <= 36
    # The same key of another user is another order with another orderLinkId.
    theirs = await _store(user_session, other_id, other_credential)
    assert theirs.id != first.id
    assert theirs.order_link_id != first.order_link_id
    assert await get_order(user_session, other_id, first.id) is None
    assert [o.id for o in await list_orders(user_session, user_id)] == [first.id]
    trail = await order_events(user_session, user_id, first.id)
    assert [(e.actor, e.client_address, e.from_state, e.to_state) for e in trail] == [
        ("token:7", "10.0.0.1", None, "pending")
    ]
    assert await order_events(user_session, other_id, first.id) == []


async def test_states_only_move_forward_whatever_order_updates_arrive_in(user_session: AsyncSession) -> None:
    user_id, credential_id = await _user_with_key(user_session)
    history = [
        OrderUpdate(OrderState.PENDING_UNKNOWN),
        OrderUpdate(OrderState.ACCEPTED, bybit_order_id="b-1"),
        OrderUpdate(OrderState.NEW, bybit_status="New", filled_qty=Decimal(0)),
        OrderUpdate(OrderState.PARTIALLY_FILLED, filled_qty=Decimal("0.004"), avg_price=Decimal("60000")),
        OrderUpdate(OrderState.PARTIALLY_FILLED, filled_qty=Decimal("0.007"), avg_price=Decimal("60000")),
        OrderUpdate(OrderState.FILLED, bybit_status="Filled", filled_qty=Decimal("0.01")),
    ]
    rng = random.Random(5)
    for round_ in range(20):
        order = await _store(user_session, user_id, credential_id, key=f"shuffle-{round_}")
        # Bybit's order ids are unique per account: each order its own.
        updates = [
            replace(change, bybit_order_id=f"b-{round_}") if change.bybit_order_id else change
            for change in history
        ]
        rng.shuffle(updates)
        seen_filled = Decimal(0)
        seen_rank = 0
        for change in updates:
            await move_order(user_session, order.id, change)
            now = await get_order(user_session, user_id, order.id)
            assert now is not None
            state = OrderState(now.state)
            assert now.filled_qty >= seen_filled
            assert state.rank >= seen_rank
            seen_filled, seen_rank = now.filled_qty, state.rank
        final = await get_order(user_session, user_id, order.id)
        assert final is not None
        assert (final.state, final.filled_qty, final.bybit_order_id) == (
            "filled",
            Decimal("0.01"),
            f"b-{round_}",
        )
    # A final state stays final: a late "new", or a cancel, changes nothing and writes no trail.
    trail_before = len(await order_events(user_session, user_id, order.id))
    assert await move_order(user_session, order.id, OrderUpdate(OrderState.CANCELLED)) is None
    assert await move_order(user_session, order.id, OrderUpdate(OrderState.NEW)) is None
    assert len(await order_events(user_session, user_id, order.id)) == trail_before


async def test_a_rejection_is_final_and_says_why(user_session: AsyncSession) -> None:
    user_id, credential_id = await _user_with_key(user_session)
    order = await _store(user_session, user_id, credential_id)
    moved = await move_order(
        user_session,
        order.id,
        OrderUpdate(OrderState.REJECTED, reject_code=110007, reject_reason="ab not enough for new order"),
        Actor.token(7, "10.0.0.1"),
    )
    assert moved is not None
    assert moved.state == "rejected"
    assert moved.reject_code == 110007
    assert await move_order(user_session, order.id, OrderUpdate(OrderState.ACCEPTED)) is None
    last = (await order_events(user_session, user_id, order.id))[-1]
    assert (last.from_state, last.to_state) == ("pending", "rejected")
    assert last.detail is not None
    assert "110007" in last.detail


@pytest.fixture
async def committed(user_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(user_engine, expire_on_commit=False)


async def test_concurrent_writers_never_move_an_order_back(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    async with committed() as session:
        user_id, credential_id = await _user_with_key(session)
        orders = [await _store(session, user_id, credential_id, key=f"race-{i}") for i in range(10)]
        await session.commit()
    updates = [
        OrderUpdate(OrderState.ACCEPTED, bybit_order_id="x"),
        OrderUpdate(OrderState.NEW),
        OrderUpdate(OrderState.PARTIALLY_FILLED, filled_qty=Decimal("0.005")),
        OrderUpdate(OrderState.FILLED, filled_qty=Decimal("0.01")),
        OrderUpdate(OrderState.PENDING_UNKNOWN),
    ]

    async def write(order_id: int, change: OrderUpdate) -> None:
        async with committed() as session:
            await move_order(session, order_id, change)
            await asyncio.sleep(0.005)  # hold the transaction open while the others queue on the row
            await session.commit()

    try:
        await asyncio.gather(
            *(
                write(o.id, replace(change, bybit_order_id=f"x-{o.id}") if change.bybit_order_id else change)
                for o in orders
                for change in updates
            )
        )
        async with committed() as session:
            for order in orders:
                now = await get_order(session, user_id, order.id)
                assert now is not None
                assert (now.state, now.filled_qty) == ("filled", Decimal("0.01"))
                states = [e.to_state for e in await order_events(session, user_id, order.id)]
                ranks = [OrderState(s).rank for s in states]
                assert ranks == sorted(ranks)
                assert states[-1] == "filled"
    finally:
        async with committed() as session:
            await session.execute(delete(User).where(User.id == user_id))
            await session.commit()


async def test_claims_skip_leased_and_locked_orders(committed: async_sessionmaker[AsyncSession]) -> None:
    async with committed() as session:
        user_id, credential_id = await _user_with_key(session)
        mine = [await _store(session, user_id, credential_id, key=f"claim-{i}") for i in range(4)]
        ids = {order.id for order in mine}
        # Three leases ran out (the sender died); one is still held.
        expired = [order.id for order in mine[:3]]
        await session.execute(
            update(Order).where(Order.id.in_(expired)).values(lease_until=datetime.now(UTC) - LEASE)
        )
        await session.commit()
    try:
        async with committed() as first, committed() as second:
            taken_first = {o.id for o in await claim_unresolved_orders(first, lease=LEASE)} & ids
            taken_second = {o.id for o in await claim_unresolved_orders(second, lease=LEASE)} & ids
            assert taken_first == set(expired)
            assert taken_second == set()
            await first.commit()
        async with committed() as session:
            # Leased anew: nobody else takes them now.
            assert not {o.id for o in await claim_unresolved_orders(session, lease=LEASE)} & ids
            # An order whose sender holds its lease and sent nothing may be forgotten; once the
            # lease moved on (another sender took it), never.
            held = await get_order(session, user_id, mine[3].id)
            assert held is not None
            taken = await get_order(session, user_id, expired[0])
            assert taken is not None
            held_lease = held.lease_until
            assert not await forget_unsent_order(session, taken.id, held_lease)
            await record_send(session, held.id, LEASE)
            await record_send(session, held.id, LEASE)
            assert not await forget_unsent_order(session, held.id, held_lease)
            fresh = await _store(session, user_id, credential_id, key="claim-fresh")
            assert await forget_unsent_order(session, fresh.id, fresh.lease_until)
            assert await get_order(session, user_id, fresh.id) is None
            await session.commit()
    finally:
        async with committed() as session:
            await session.execute(delete(User).where(User.id == user_id))
            await session.commit()


async def test_fills_are_recorded_once_per_exec_id(user_session: AsyncSession) -> None:
    user_id, credential_id = await _user_with_key(user_session)
    order = await _store(user_session, user_id, credential_id)
    fills = [
        Fill(
            exec_id=f"e-{uuid.uuid4().hex}-{i}",
            bybit_order_id="b-1",
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            exec_price=Decimal("60000"),
            exec_qty=Decimal("0.005"),
            exec_fee=Decimal("0.01"),
            fee_currency="USDT",
            is_maker=True,
            exec_time=datetime.now(UTC),
        )
        for i in range(2)
    ]
    assert await record_executions(user_session, user_id, order.id, fills) == 2
    assert await record_executions(user_session, user_id, order.id, fills + fills[:1]) == 0
    listed = await list_executions(user_session, user_id)
    assert sorted(e.exec_id for e in listed) == sorted(f.exec_id for f in fills)
    assert (
        await list_executions(user_session, user_id, order_id=order.id, before_id=listed[0].id) == listed[1:]
    )

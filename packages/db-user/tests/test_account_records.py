"""What Bybit says of an account, written forward only: an order placed elsewhere stored once
however many writers learn it at once (two processes holding one key), its pushes in any order
never moving it back, fills once per execId, positions and balances replaced only by newer states,
and leases claimed by one process at a time."""

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest_asyncio
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bybit_client import Order as BybitOrder
from bybit_client import Position
from bybit_client.models import CoinBalance
from db_user import (
    AccountBalance,
    AccountKey,
    AccountPosition,
    Actor,
    Execution,
    Fill,
    Order,
    User,
    add_missing_leases,
    apply_balances,
    apply_executions,
    apply_order,
    apply_position,
    claim_leases,
    create_user,
    renew_leases,
    save_bybit_credential,
)


@pytest_asyncio.fixture(loop_scope="session")
async def committed(user_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(user_engine, expire_on_commit=False)


async def _key(session: AsyncSession) -> AccountKey:
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
    return AccountKey(user.id, credential.id)


def _bybit_order(order_id: str, status: str, filled: str, updated_ms: int) -> BybitOrder:
    raw: dict[str, Any] = {
        "orderId": order_id,
        "orderLinkId": "",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "price": "10",
        "qty": "5",
        "orderStatus": status,
        "timeInForce": "GTC",
        "cumExecQty": filled,
        "avgPrice": "10" if filled != "0" else "",
        "createdTime": "1700000000000",
        "updatedTime": str(updated_ms),
    }
    return BybitOrder.model_validate(raw)


async def test_an_external_order_learnt_by_racing_writers_is_one_row_moved_only_forward(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    async with committed() as session:
        key = await _key(session)
        await session.commit()
    try:
        await _race(committed, key)
    finally:
        await _forget(committed, [key])


async def _forget(committed: async_sessionmaker[AsyncSession], keys: list[AccountKey]) -> None:
    """The committed users (their keys, orders and leases with them): the shared database stays as
    the other tests expect it."""
    async with committed() as session:
        await session.execute(delete(User).where(User.id.in_([key.user_id for key in keys])))
        await session.commit()


async def _race(committed: async_sessionmaker[AsyncSession], key: AccountKey) -> None:
    order_id = uuid.uuid4().hex
    states = [
        _bybit_order(order_id, "New", "0", 1_700_000_000_000),
        _bybit_order(order_id, "PartiallyFilled", "1", 1_700_000_000_001),
        _bybit_order(order_id, "PartiallyFilled", "3", 1_700_000_000_002),
        _bybit_order(order_id, "Filled", "5", 1_700_000_000_003),
    ]
    # Two holders each see every push, duplicated and in random order.
    pushes = [*states, *states, *states]
    random.Random(7).shuffle(pushes)

    async def write(found: BybitOrder) -> None:
        async with committed() as session:
            await apply_order(session, key, "linear", found, Actor("system:accounts"), "pushed")
            await session.commit()

    await asyncio.gather(*(write(found) for found in pushes))
    async with committed() as session:
        rows = list(await session.scalars(select(Order).where(Order.credential_id == key.credential_id)))
    assert len(rows) == 1
    (order,) = rows
    assert (order.origin, order.state, order.filled_qty, order.idempotency_key) == (
        "external",
        "filled",
        Decimal(5),
        None,
    )


async def test_fills_once_positions_and_balances_only_forward(user_session: AsyncSession) -> None:
    key = await _key(user_session)
    now = datetime.now(UTC)
    fill = Fill(
        exec_id=f"e-{uuid.uuid4().hex}",
        bybit_order_id="o-1",
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        exec_price=Decimal(10),
        exec_qty=Decimal(1),
        exec_fee=None,
        fee_currency=None,
        is_maker=True,
        exec_time=now,
    )
    assert await apply_executions(user_session, key, [(fill, "")]) == 1
    assert await apply_executions(user_session, key, [(fill, ""), (fill, "")]) == 0
    stored = await user_session.scalar(
        select(func.count()).select_from(Execution).where(Execution.credential_id == key.credential_id)
    )
    assert stored == 1

    def position(size: str, seq: int) -> Position:
        return Position.model_validate(
            {"symbol": "BTCUSDT", "side": "Buy", "size": size, "seq": seq, "updatedTime": "1700000000000"}
        )

    assert await apply_position(user_session, key, "linear", position("2", 5))
    assert not await apply_position(user_session, key, "linear", position("1", 4))  # older: ignored
    assert not await apply_position(user_session, key, "linear", position("2", 5))  # the same again
    assert await apply_position(user_session, key, "linear", position("0", 6))
    row = await user_session.get(
        AccountPosition, (key.credential_id, "linear", "BTCUSDT", 0), populate_existing=True
    )
    assert row is not None
    assert row.size == 0

    coin = CoinBalance.model_validate({"coin": "USDT", "walletBalance": "100"})
    older = CoinBalance.model_validate({"coin": "USDT", "walletBalance": "90"})
    assert await apply_balances(user_session, key, [coin], now) == 1
    assert await apply_balances(user_session, key, [older], now - timedelta(seconds=1)) == 0
    balance = await user_session.get(AccountBalance, (key.credential_id, "USDT"), populate_existing=True)
    assert balance is not None
    assert balance.wallet_balance == Decimal(100)


async def test_a_lease_is_claimed_by_one_process_at_a_time(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    async with committed() as session:
        keys = [await _key(session) for _ in range(6)]
        await add_missing_leases(session)
        await session.commit()
    try:
        await _claims(committed, keys)
    finally:
        await _forget(committed, keys)


async def _claims(committed: async_sessionmaker[AsyncSession], keys: list[AccountKey]) -> None:
    lease = timedelta(seconds=30)

    async def claim(holder: str) -> list[int]:
        async with committed() as session:
            taken = await claim_leases(session, holder, lease, 1000)
            await session.commit()
            return taken

    claimed = await asyncio.gather(*(claim(f"p{i}") for i in range(4)))
    ours = {key.credential_id for key in keys}
    taken = [credential_id for each in claimed for credential_id in each if credential_id in ours]
    assert sorted(taken) == sorted(ours)  # each key once, by one of them
    # Only the holder renews; a key held by another is not renewed for p-other.
    async with committed() as session:
        assert await renew_leases(session, "p-other", ours, lease) == set()
        await session.commit()

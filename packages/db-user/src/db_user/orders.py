"""Users' orders: stored before they are sent, moved only forward, with an audit trail per change.

- ``store_pending_order`` writes an order as ``pending`` under (user, idempotency key), its
  ``orderLinkId`` derived from the two (``order_link_id_for``); a repeat of the key gets the stored
  row back (``created`` False) and the caller compares ``request_hash``.
- ``move_order`` is the one way an order changes: a single ``UPDATE`` whose ``WHERE`` admits only a
  later state (``OrderState.RANKS``) or more filled quantity, so two writers racing, or updates
  arriving out of order, can never move an order back, shrink its filled quantity or reopen a final
  state. Each change that happened writes an ``order_events`` row (who, when, from which address).
- ``claim_unresolved_orders`` hands the tracker the orders whose outcome is not known and whose lease
  has run out (``FOR UPDATE SKIP LOCKED``: several processes never take the same row), and counts the
  send it is about to make.
- ``record_executions`` stores fills once per ``execId``.

Functions never commit: the caller's session scope does.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db_user.audit import SYSTEM, Actor
from db_user.models import Execution, Order, OrderEvent
from db_user.order_states import RANKS, UNRESOLVED, OrderState

# Bybit's orderLinkId takes at most 36 characters; 32 hex characters of a hash leave room to spare.
_LINK_ID_LENGTH = 32


def order_link_id_for(user_id: int, idempotency_key: str) -> str:
    """The ``orderLinkId`` of a user's order placed under ``idempotency_key``: the same pair always
    gives the same id, so a repeat can never reach Bybit as a second order."""
    digest = hashlib.sha256(f"{user_id}\x00{idempotency_key}".encode()).hexdigest()
    return digest[:_LINK_ID_LENGTH]


@dataclass(frozen=True)
class NewOrder:
    """What a user asks to place (the columns a stored order starts with)."""

    credential_id: int
    category: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    price: Decimal | None
    time_in_force: str | None
    reduce_only: bool


@dataclass(frozen=True)
class OrderUpdate:
    """What is now known of an order; ``move_order`` keeps only what moves it forward."""

    state: OrderState
    bybit_order_id: str | None = None
    bybit_status: str | None = None
    filled_qty: Decimal | None = None
    avg_price: Decimal | None = None
    reject_code: int | None = None
    reject_reason: str | None = None
    bybit_updated_at: datetime | None = None
    detail: str | None = None


def _rank(column: Any) -> ColumnElement[int]:
    """The rank of a stored state, in SQL, from the one table of ranks."""
    return case({state.value: rank for state, rank in RANKS.items()}, value=column)


async def store_pending_order(
    session: AsyncSession,
    *,
    user_id: int,
    idempotency_key: str,
    request_hash: str,
    order: NewOrder,
    lease: timedelta,
    actor: Actor,
) -> tuple[Order, bool]:
    """Store ``order`` as ``pending`` under (user, key), leased for ``lease`` to the caller who sends
    it; returns (the order, True). When the key was used already, nothing is written: (that order,
    False), whatever it asked for."""
    statement = (
        insert(Order)
        .values(
            user_id=user_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            order_link_id=order_link_id_for(user_id, idempotency_key),
            state=OrderState.PENDING.value,
            # Its first send follows at once (the caller's): counted now, so that the absence of an
            # order is never judged from a send made after the last one recorded.
            send_attempts=1,
            last_sent_at=func.now(),
            lease_until=func.now() + lease,
            **order.__dict__,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "idempotency_key"])
        .returning(Order)
    )
    created = (await session.scalars(statement)).one_or_none()
    if created is not None:
        session.add(
            OrderEvent(
                order_id=created.id,
                actor=actor.name,
                client_address=actor.address,
                from_state=None,
                to_state=OrderState.PENDING.value,
                detail="stored before sending",
            )
        )
        await session.flush()
        return created, True
    existing = await order_by_key(session, user_id, idempotency_key)
    assert existing is not None  # the conflict was on this very key
    return existing, False


async def order_by_key(session: AsyncSession, user_id: int, idempotency_key: str) -> Order | None:
    """The user's order placed under ``idempotency_key``, if any."""
    query = select(Order).where(Order.user_id == user_id, Order.idempotency_key == idempotency_key)
    return (await session.scalars(query)).one_or_none()


async def get_order(session: AsyncSession, user_id: int, order_id: int) -> Order | None:
    """One order, only when it belongs to ``user_id``."""
    query = select(Order).where(Order.id == order_id, Order.user_id == user_id)
    return (await session.scalars(query)).one_or_none()


async def list_orders(
    session: AsyncSession,
    user_id: int,
    *,
    symbol: str | None = None,
    category: str | None = None,
    states: Sequence[OrderState] = (),
    before_id: int | None = None,
    limit: int = 50,
) -> list[Order]:
    """A user's orders, newest first, ``limit`` at most; ``before_id`` continues a listing (keyset)."""
    query = select(Order).where(Order.user_id == user_id)
    if symbol is not None:
        query = query.where(Order.symbol == symbol)
    if category is not None:
        query = query.where(Order.category == category)
    if states:
        query = query.where(Order.state.in_([state.value for state in states]))
    if before_id is not None:
        query = query.where(Order.id < before_id)
    return list((await session.scalars(query.order_by(Order.id.desc()).limit(limit))).all())


async def move_order(
    session: AsyncSession, order_id: int, change: OrderUpdate, actor: Actor = SYSTEM
) -> Order | None:
    """Apply what is now known of an order, forward only; the order as it now stands, None when the
    update moved nothing (an older or equal state, no more fills, no order id to learn) or there is
    no such order.

    The guard is in the ``UPDATE`` itself, so it holds against any concurrent writer: the state
    changes only to one of a higher rank, the filled quantity only grows, a final state stays.
    """
    target_rank = RANKS[change.state]
    filled = change.filled_qty
    advances = _rank(Order.state) < target_rank
    grows = Order.filled_qty < filled if filled is not None else literal(False)
    # An order id learnt late (its ack arriving after its fills) is still kept.
    learns_id = Order.bybit_order_id.is_(None) if change.bybit_order_id is not None else literal(False)
    # The state before, read under the row's lock, for the trail (PostgreSQL 15 cannot RETURN it).
    row = (
        await session.execute(
            select(Order.state, Order.filled_qty).where(Order.id == order_id).with_for_update()
        )
    ).one_or_none()
    if row is None:
        return None
    before, filled_before = row
    values: dict[str, Any] = {
        "state": case((advances, change.state.value), else_=Order.state),
        "updated_at": func.now(),
    }
    if filled is not None:
        values["filled_qty"] = func.greatest(Order.filled_qty, filled)
        if change.avg_price is not None:
            values["avg_price"] = case((Order.filled_qty <= filled, change.avg_price), else_=Order.avg_price)
    if change.bybit_order_id is not None:  # once learnt, an order id stays
        values["bybit_order_id"] = func.coalesce(Order.bybit_order_id, change.bybit_order_id)
    # Bybit's own words come with the change that moved the order (the guard below lets only such
    # a change through).
    for name in ("bybit_status", "reject_code", "reject_reason"):
        value = getattr(change, name)
        if value is not None:
            values[name] = value
    if change.bybit_updated_at is not None:
        values["bybit_updated_at"] = func.greatest(Order.bybit_updated_at, change.bybit_updated_at)
    moved = (
        await session.scalars(
            update(Order)
            .where(Order.id == order_id, or_(advances, grows, learns_id))
            .values(values)
            .returning(Order)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
    ).one_or_none()
    if moved is None:
        return None
    if moved.state == before and moved.filled_qty == filled_before:
        return moved  # only the order id was learnt: no change of state to record
    session.add(
        OrderEvent(
            order_id=order_id,
            actor=actor.name,
            client_address=actor.address,
            from_state=before,
            to_state=moved.state,
            detail=_detail(change, moved),
        )
    )
    await session.flush()
    return moved


def _detail(change: OrderUpdate, moved: Order) -> str | None:
    words = [change.detail] if change.detail else []
    if change.reject_code is not None:
        words.append(f"Bybit retCode {change.reject_code}: {change.reject_reason or ''}".rstrip(": "))
    if moved.filled_qty:
        words.append(f"filled {moved.filled_qty:f}")
    return "; ".join(words) or None


async def postpone_order(session: AsyncSession, order_id: int, delay: timedelta) -> None:
    """Lease an unresolved order for ``delay`` more: nobody takes it up again before then."""
    await session.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(lease_until=func.now() + delay)
        .execution_options(synchronize_session=False)
    )


async def record_send(session: AsyncSession, order_id: int, lease: timedelta) -> None:
    """Count a create about to leave for an order, and lease the order to its sender meanwhile."""
    await session.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(
            send_attempts=Order.send_attempts + 1,
            last_sent_at=func.now(),
            lease_until=func.now() + lease,
        )
        .execution_options(synchronize_session=False)
    )


async def forget_unsent_order(session: AsyncSession, order_id: int, lease_until: datetime) -> bool:
    """Delete an order nothing was ever sent for (its sender was refused before sending), only while
    its sender still holds the lease it was stored with: no one else can have sent it."""
    result = await session.execute(
        delete(Order)
        .where(
            Order.id == order_id,
            Order.state == OrderState.PENDING.value,
            Order.lease_until == lease_until,
            Order.send_attempts == 1,
        )
        .returning(Order.id)
    )
    return result.scalar_one_or_none() is not None


async def claim_unresolved_orders(
    session: AsyncSession, *, lease: timedelta, limit: int = 100
) -> list[Order]:
    """Unresolved orders (``pending``, ``pending_unknown``) whose lease ran out, oldest first, now
    leased for ``lease`` to the caller; rows another process holds are skipped, never waited for."""
    claimable = (
        select(Order.id)
        .where(
            Order.state.in_([state.value for state in UNRESOLVED]),
            Order.lease_until < func.now(),
        )
        .order_by(Order.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = await session.scalars(
        update(Order)
        .where(Order.id.in_(claimable))
        .values(lease_until=func.now() + lease)
        .returning(Order)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return sorted(claimed.all(), key=lambda order: order.id)


async def order_events(session: AsyncSession, user_id: int, order_id: int) -> list[OrderEvent]:
    """The trail of one of the user's orders, oldest first (empty when the order is not theirs)."""
    query = (
        select(OrderEvent)
        .join(Order, Order.id == OrderEvent.order_id)
        .where(OrderEvent.order_id == order_id, Order.user_id == user_id)
        .order_by(OrderEvent.id)
    )
    return list((await session.scalars(query)).all())


@dataclass(frozen=True)
class Fill:
    """One execution as Bybit reports it (``execId`` unique)."""

    exec_id: str
    bybit_order_id: str
    category: str
    symbol: str
    side: str
    exec_price: Decimal
    exec_qty: Decimal
    exec_fee: Decimal | None
    fee_currency: str | None
    is_maker: bool | None
    exec_time: datetime


async def record_executions(
    session: AsyncSession, user_id: int, order_id: int | None, fills: Iterable[Fill]
) -> int:
    """Store fills of a user's order, each ``execId`` once however often it is seen; returns how
    many were new."""
    rows = [{"user_id": user_id, "order_id": order_id, **fill.__dict__} for fill in fills]
    if not rows:
        return 0
    result = await session.execute(
        insert(Execution)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["exec_id"])
        .returning(Execution.id)
    )
    return len(result.all())


async def list_executions(
    session: AsyncSession,
    user_id: int,
    *,
    symbol: str | None = None,
    order_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Execution]:
    """A user's fills, newest recorded first, ``limit`` at most; ``before_id`` continues a listing."""
    query = select(Execution).where(Execution.user_id == user_id)
    if symbol is not None:
        query = query.where(Execution.symbol == symbol)
    if order_id is not None:
        query = query.where(Execution.order_id == order_id)
    if before_id is not None:
        query = query.where(Execution.id < before_id)
    return list((await session.scalars(query.order_by(Execution.id.desc()).limit(limit))).all())

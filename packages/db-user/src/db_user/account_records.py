"""What Bybit says of a key's account, written to the user database: orders (through ``move_order``:
only forward), executions (once per ``execId``), positions and balances (only a newer state replaces
a stored one). The stream's pushes and a reconciliation's REST answers take the same path, so it does
not matter which arrives first, twice, or late.

- ``bybit_order_update``: what Bybit's own record of an order says (``OrderUpdate``), the one mapping
  of Bybit's statuses to ours (the api's order routes use it too);
- ``apply_order``: finds the stored order by ``orderLinkId`` (placed through the api) or Bybit's order
  id, stores an order placed elsewhere as ``external``, then moves it forward;
- ``apply_executions``: stores fills once per ``execId``, linked to their order when it is known (an
  execution that outran its order is linked when the order is stored);
- ``apply_position`` / ``apply_balances``: upserts guarded by the version Bybit gives.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bybit_client.enums import OrderStatus
from bybit_client.models import CoinBalance, Position
from bybit_client.models import Execution as BybitExecution
from bybit_client.models import Order as BybitOrder
from db_user.audit import Actor
from db_user.models import AccountBalance, AccountPosition, Execution, Order
from db_user.order_states import OPEN, OrderOrigin, OrderState
from db_user.orders import Fill, OrderUpdate, move_order

_STATES: dict[OrderStatus, OrderState] = {
    OrderStatus.NEW: OrderState.NEW,
    OrderStatus.PARTIALLY_FILLED: OrderState.PARTIALLY_FILLED,
    OrderStatus.UNTRIGGERED: OrderState.ACCEPTED,
    OrderStatus.TRIGGERED: OrderState.NEW,
    OrderStatus.FILLED: OrderState.FILLED,
    OrderStatus.CANCELLED: OrderState.CANCELLED,
    OrderStatus.PARTIALLY_FILLED_CANCELED: OrderState.CANCELLED,
    OrderStatus.DEACTIVATED: OrderState.CANCELLED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}


def bybit_order_update(found: BybitOrder, detail: str | None = None) -> OrderUpdate:
    """What Bybit's own record of an order (a lookup, a listing or a push) says of it."""
    return OrderUpdate(
        _STATES.get(found.order_status, OrderState.ACCEPTED),
        bybit_order_id=found.order_id,
        bybit_status=found.order_status.value,
        filled_qty=found.cum_exec_qty,
        avg_price=found.avg_price or None,
        reject_reason=found.reject_reason if found.order_status is OrderStatus.REJECTED else None,
        bybit_updated_at=found.updated_time,
        detail=detail or f"Bybit shows it {found.order_status.value}",
    )


def fill_of(execution: BybitExecution, category: str) -> Fill:
    """One of Bybit's executions as a stored fill."""
    return Fill(
        exec_id=execution.exec_id,
        bybit_order_id=execution.order_id,
        category=category,
        symbol=execution.symbol,
        side=execution.side.value,
        exec_price=execution.exec_price,
        exec_qty=execution.exec_qty,
        exec_fee=execution.exec_fee,
        fee_currency=execution.fee_currency,
        is_maker=execution.is_maker,
        exec_time=execution.exec_time,
    )


@dataclass(frozen=True)
class AccountKey:
    """Whose account a write concerns: the user and the stored key."""

    user_id: int
    credential_id: int


async def _find_order(
    session: AsyncSession, key: AccountKey, category: str, found: BybitOrder
) -> Order | None:
    matches = [Order.bybit_order_id == found.order_id]
    if found.order_link_id:
        matches.append(Order.order_link_id == found.order_link_id)
    query = select(Order).where(
        Order.user_id == key.user_id,
        Order.category == category,
        or_(Order.credential_id == key.credential_id, Order.credential_id.is_(None)),
        or_(*matches),
    )
    return (await session.scalars(query.limit(1))).one_or_none()


async def apply_order(
    session: AsyncSession, key: AccountKey, category: str, found: BybitOrder, actor: Actor, detail: str
) -> tuple[Order, bool]:
    """Bring the stored order of ``found`` forward to it, storing it first as ``external`` when it was
    placed elsewhere; returns (the order, whether anything changed)."""
    order = await _find_order(session, key, category, found)
    created = False
    if order is None:
        inserted = await session.scalars(
            insert(Order)
            .values(
                user_id=key.user_id,
                credential_id=key.credential_id,
                origin=OrderOrigin.EXTERNAL.value,
                order_link_id=found.order_link_id or None,
                category=category,
                symbol=found.symbol,
                side=found.side.value,
                order_type=found.order_type.value,
                qty=found.qty,
                price=found.price or None,
                time_in_force=found.time_in_force.value if found.time_in_force else None,
                reduce_only=found.reduce_only,
                state=OrderState.ACCEPTED.value,
                bybit_order_id=found.order_id,
                lease_until=func.now(),
                created_at=found.created_time,
            )
            .on_conflict_do_nothing()
            .returning(Order)
        )
        order = inserted.one_or_none()
        if order is None:  # another writer stored it meanwhile
            order = await _find_order(session, key, category, found)
            if order is None:
                raise LookupError(f"order {found.order_id} neither stored nor found")
        else:
            created = True
    moved = await move_order(session, order.id, bybit_order_update(found, detail), actor)
    if created:
        # Fills that outran an order placed elsewhere are linked now (an order of ours is known by
        # its orderLinkId before any of its fills: they are linked as they are stored).
        await session.execute(
            update(Execution)
            .where(Execution.bybit_order_id == found.order_id, Execution.order_id.is_(None))
            .values(order_id=order.id)
            .execution_options(synchronize_session=False)
        )
    return (moved or order), (moved is not None or created)


async def apply_executions(session: AsyncSession, key: AccountKey, fills: Sequence[tuple[Fill, str]]) -> int:
    """Store ``fills`` (each with its ``orderLinkId``, "" when none) once per ``execId``, linked to
    their stored order when there is one; returns how many were new."""
    if not fills:
        return 0
    order_ids = {fill.bybit_order_id for fill, _ in fills}
    link_ids = {link for _, link in fills if link}
    known = (
        await session.execute(
            select(Order.id, Order.bybit_order_id, Order.order_link_id).where(
                Order.user_id == key.user_id,
                or_(Order.bybit_order_id.in_(order_ids), Order.order_link_id.in_(link_ids)),
            )
        )
    ).all()
    by_order_id = {row.bybit_order_id: row.id for row in known if row.bybit_order_id}
    by_link = {row.order_link_id: row.id for row in known if row.order_link_id}
    rows = [
        {
            "user_id": key.user_id,
            "credential_id": key.credential_id,
            "order_id": by_order_id.get(fill.bybit_order_id) or by_link.get(link),
            **fill.__dict__,
        }
        for fill, link in fills
    ]
    result = await session.execute(
        insert(Execution)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["exec_id"])
        .returning(Execution.id)
    )
    return len(result.all())


async def unlinked_order_ids(session: AsyncSession, credential_id: int) -> set[str]:
    """Bybit's ids of orders a key's stored fills name but no stored order has (placed and finished
    elsewhere while no stream was listening)."""
    query = (
        select(Execution.bybit_order_id)
        .where(Execution.credential_id == credential_id, Execution.order_id.is_(None))
        .distinct()
    )
    return set((await session.scalars(query)).all())


async def newest_execution_time(session: AsyncSession, credential_id: int) -> datetime | None:
    """When the newest stored fill of a key's account happened (where a reconciliation resumes)."""
    newest: datetime | None = await session.scalar(
        select(func.max(Execution.exec_time)).where(Execution.credential_id == credential_id)
    )
    return newest


async def open_orders_of(session: AsyncSession, credential_id: int) -> list[Order]:
    """The orders of a key the database holds open (accepted, new, partially filled)."""
    query = select(Order).where(
        Order.credential_id == credential_id, Order.state.in_([state.value for state in OPEN])
    )
    return list((await session.scalars(query)).all())


async def apply_position(session: AsyncSession, key: AccountKey, category: str, position: Position) -> bool:
    """Store a position unless a newer state of it is stored; returns whether the row changed."""
    seq, updated = position.version
    values = {
        "credential_id": key.credential_id,
        "category": category,
        "symbol": position.symbol,
        "position_idx": position.position_idx,
        "user_id": key.user_id,
        "side": position.side.value if position.side else None,
        "size": position.size,
        "avg_price": position.avg_price,
        "mark_price": position.mark_price,
        "leverage": position.leverage,
        "unrealised_pnl": position.unrealised_pnl,
        "cum_realised_pnl": position.cum_realised_pnl,
        "seq": seq,
        "bybit_updated_at": updated,
    }
    statement = insert(AccountPosition).values(values)
    table = AccountPosition.__table__
    changed = await session.execute(
        statement.on_conflict_do_update(
            index_elements=["credential_id", "category", "symbol", "position_idx"],
            set_={
                **{name: statement.excluded[name] for name in values if name not in _POSITION_KEY},
                "updated_at": func.now(),
            },
            # Only forward: a newer version, or the same version (a repeat changes nothing).
            where=tuple_(statement.excluded.seq, statement.excluded.bybit_updated_at)
            > tuple_(table.c.seq, table.c.bybit_updated_at),
        ).returning(AccountPosition.symbol)
    )
    return changed.one_or_none() is not None


_POSITION_KEY = frozenset({"credential_id", "category", "symbol", "position_idx"})


async def stored_positions(session: AsyncSession, credential_id: int) -> list[AccountPosition]:
    query = select(AccountPosition).where(AccountPosition.credential_id == credential_id)
    return list(
        (await session.scalars(query.order_by(AccountPosition.category, AccountPosition.symbol))).all()
    )


async def apply_balances(
    session: AsyncSession, key: AccountKey, coins: Iterable[CoinBalance], at: datetime
) -> int:
    """Store the wallet's coins as of ``at`` unless a newer state of each is stored; returns how many
    rows changed."""
    rows = [
        {
            "credential_id": key.credential_id,
            "coin": coin.coin,
            "user_id": key.user_id,
            "equity": coin.equity,
            "wallet_balance": coin.wallet_balance,
            "locked": coin.locked,
            "unrealised_pnl": coin.unrealised_pnl,
            "available_to_withdraw": coin.available_to_withdraw,
            "bybit_at": at,
        }
        for coin in coins
    ]
    if not rows:
        return 0
    statement = insert(AccountBalance).values(rows)
    table = AccountBalance.__table__
    changed = await session.execute(
        statement.on_conflict_do_update(
            index_elements=["credential_id", "coin"],
            set_={
                **{
                    name: statement.excluded[name]
                    for name in rows[0]
                    if name not in ("credential_id", "coin")
                },
                "updated_at": func.now(),
            },
            where=statement.excluded.bybit_at > table.c.bybit_at,
        ).returning(AccountBalance.coin)
    )
    return len(changed.all())


async def stored_balances(session: AsyncSession, credential_id: int) -> list[AccountBalance]:
    query = select(AccountBalance).where(AccountBalance.credential_id == credential_id)
    return list((await session.scalars(query.order_by(AccountBalance.coin))).all())

"""Sending a stored order to Bybit and recording what the answer proves, for the order route and the
tracker alike.

An order is sent only after it is stored (``db_user.store_pending_order``), always under its own
``orderLinkId``, so sending it again can never place a second order: Bybit refuses the repeated id
and the client reports the order it placed. What the answer proves moves the order forward:

- **accepted**: ``accepted`` with Bybit's order id;
- **rejected** (a retCode that proves nothing was placed): ``rejected`` with Bybit's code and words,
  after a lookup by ``orderLinkId`` finds nothing (a refusal of a repeated send may stem from an
  earlier send that did place it);
- **unknown** (timeout, reset, 5xx, 10006...): ``pending_unknown``, never a failure; the tracker
  resolves it (``order_tracker``).

An order is proven absent only when no lookup finds its ``orderLinkId`` once its last create can no
longer land: Bybit refuses a request older than its ``recv_window``, so ``absence_provable_after``
that long (plus a margin for the two clocks) after the last send, and only while Bybit's history
still keeps every order of that age (24 hours): then it is ``not_placed``.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from api_service.bybit_access import bybit_client_for
from bybit_client.enums import Network
from bybit_client.redis_budget import AsyncRedisBudget
from bybit_client.retry import RetryPolicy
from core_config import Settings
from db_user import BybitCredential, Fill, Order, OrderState, OrderUpdate, bybit_order_update, fill_of

if TYPE_CHECKING:  # the client (and aiohttp with it) loads with the first order sent
    from bybit_client import AsyncBybitClient, OrderAck, OrderOutcome
    from bybit_client import Order as BybitOrder

# Bybit's history keeps orders of every status this long (from their last update): a lookup that
# finds nothing proves absence only within it.
HISTORY_KEEPS_ALL = timedelta(hours=24)
# Room for Bybit's clock running behind ours when judging that a request can no longer land.
CLOCK_MARGIN = timedelta(seconds=5)


async def send_create(bybit: "AsyncBybitClient", order: Order) -> "OrderOutcome[OrderAck]":
    """Send a stored order's create, under its own ``orderLinkId``."""
    return await bybit.create_order(
        order.category,
        order.symbol,
        order.side,
        order.order_type,
        order.qty,
        price=order.price,
        time_in_force=order.time_in_force,
        order_link_id=order.order_link_id,
        reduce_only=order.reduce_only or None,
    )


def trading_client(
    settings: Settings,
    credential: BybitCredential,
    secret: SecretStr,
    budget: AsyncRedisBudget,
) -> "AsyncBybitClient":
    """A client for order calls on ``credential``: each call bounded by ``ORDER_SEND_TIMEOUT`` and sent
    once (a create whose answer is lost is sent again by the tracker, under the same id)."""
    return bybit_client_for(
        settings,
        Network(credential.network),
        credential.api_key,
        secret,
        budget,
        timeout=settings.order_send_timeout,
        retry=RetryPolicy(max_attempts=1),
    )


def outcome_update(outcome: "OrderOutcome[Any]") -> OrderUpdate:
    """What a create's outcome proves of the order (a rejection still to be checked by a lookup when
    the order was sent before: ``resolve_rejection``)."""
    if outcome.accepted:
        detail = "Bybit placed it (an earlier send)" if outcome.repeated else "Bybit accepted it"
        return OrderUpdate(OrderState.ACCEPTED, bybit_order_id=outcome.order_id, detail=detail)
    if outcome.rejected:
        return OrderUpdate(
            OrderState.REJECTED,
            reject_code=outcome.ret_code,
            reject_reason=outcome.ret_msg[:500],
            detail="Bybit refused it: nothing placed",
        )
    words = f"retCode {outcome.ret_code}: " if outcome.ret_code else ""
    return OrderUpdate(
        OrderState.PENDING_UNKNOWN,
        detail=f"outcome unknown ({words}{outcome.ret_msg[:300]}); resolved by its orderLinkId",
    )


def found_update(found: "BybitOrder") -> OrderUpdate:
    """What Bybit's own record of an order says of it (the one mapping, ``db_user.bybit_order_update``)."""
    return bybit_order_update(found)


async def fills_of(bybit: "AsyncBybitClient", order: Order, found: "BybitOrder") -> list[Fill]:
    """Bybit's executions of an order it shows with fills (none asked for an order without): one
    query of the order's own time window, by its Bybit order id."""
    if not found.cum_exec_qty:
        return []
    start = found.created_time - timedelta(seconds=1)
    return [
        fill_of(execution, order.category)
        async for execution in bybit.iter_executions(
            order.category, start, datetime.now(UTC), order_id=found.order_id
        )
    ]


def absence_provable(order: Order, settings: Settings, now: datetime | None = None) -> bool:
    """Whether a lookup that finds nothing now proves the order was never placed: its last create
    can no longer land, and Bybit's history still keeps every order from then."""
    now = now or datetime.now(UTC)
    last_sent = order.last_sent_at or order.created_at
    landing_closed = last_sent + timedelta(milliseconds=settings.bybit_recv_window) + CLOCK_MARGIN
    return landing_closed < now < last_sent + HISTORY_KEEPS_ALL


def not_placed_update() -> OrderUpdate:
    return OrderUpdate(
        OrderState.NOT_PLACED,
        detail="no lookup by its orderLinkId finds it, and its last send can no longer land",
    )

"""What Bybit keeps, and for how long, as its queries answer: the realtime query's open and recent
closed orders, the order history's windows by status and age, executions for two years
(docs/v5/order/open-order.mdx, order-list.mdx, execution.mdx). Pure functions over one account
at a given time; the engine calls them under its lock."""

from collections.abc import Iterable

from bybit_client.enums import Category, OrderStatus
from bybit_client.testing.accounts import Account, FakeOrder, Fill
from bybit_client.testing.data import DAY_MS

HISTORY_ALL_STATUSES_MS = DAY_MS  # order history keeps every status for a day
HISTORY_CLOSED_MS = 7 * DAY_MS  # closed orders but Cancelled, Rejected, Deactivated for 7 days
RETENTION_MS = 2 * 365 * DAY_MS  # orders with fills and executions: 2 years
_SHORT_LIVED = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.DEACTIVATED})


def find(account: Account, category: Category, order_id: str | None, link_id: str | None) -> FakeOrder | None:
    """An order of the account by id (orderId first), whatever the queries would still show."""
    known = order_id or account.link_ids.get((category, link_id or ""))
    order = account.orders.get(known or "")
    return order if order is not None and order.category is category else None


def realtime_orders(
    account: Account, category: Category, filters: dict[str, str], closed: bool
) -> list[FakeOrder]:
    """``/v5/order/realtime``: open orders, or (``closed``) the recent closed ones Bybit keeps for it
    (500 per account and category); by id, either."""
    order_id, link_id = filters.get("orderId"), filters.get("orderLinkId")
    if order_id or link_id:
        order = find(account, category, order_id, link_id)
        if order is None:
            return []
        kept = order.status.is_open or order.order_id in account.recent_closed.get(category, ())
        return [order] if kept else []
    if closed:
        chosen: Iterable[FakeOrder] = (
            account.orders[known] for known in account.recent_closed.get(category, ())
        )
    else:
        chosen = account.open_orders.values()
    return _newest_first(order for order in chosen if _matches(order, category, filters))


def history_orders(
    account: Account, category: Category, filters: dict[str, str], start: int, end: int, now: int
) -> list[FakeOrder]:
    """``/v5/order/history``: orders created in [start, end] that Bybit still keeps at ``now``."""
    order_id, link_id = filters.get("orderId"), filters.get("orderLinkId")
    if order_id or link_id:
        found = find(account, category, order_id, link_id)
        candidates: Iterable[FakeOrder] = [] if found is None else [found]
    else:
        candidates = (order for order in account.orders.values() if _matches(order, category, filters))
    status = filters.get("orderStatus")
    return _newest_first(
        order
        for order in candidates
        if start <= order.created_ms <= end
        and kept_in_history(order, now)
        and status in (None, "", order.status.value)
    )


def executions(
    account: Account, category: Category, filters: dict[str, str], start: int, end: int, now: int
) -> list[Fill]:
    """``/v5/execution/list``: executions in [start, end] (at most 2 years back), newest first."""
    order_id, link_id = filters.get("orderId"), filters.get("orderLinkId")
    earliest = max(start, now - RETENTION_MS)
    chosen = [
        fill
        for fill in account.executions
        if fill.category is category
        and earliest <= fill.exec_ms <= end
        and (not order_id or fill.order_id == order_id)
        and (not link_id or fill.order_link_id == link_id)
        and filters.get("symbol") in (None, "", fill.symbol)
    ]
    chosen.sort(key=lambda fill: fill.sort_key, reverse=True)
    return chosen


def kept_in_history(order: FakeOrder, now: int) -> bool:
    """Bybit's order history: every status for a day, closed ones but Cancelled, Rejected and
    Deactivated for 7 days, orders with fills for 2 years; the age counts from the last update."""
    if order.status.is_open:
        return True
    age = now - order.updated_ms
    if order.cum_exec_qty:
        return age <= RETENTION_MS
    if order.status in _SHORT_LIVED:
        return age <= HISTORY_ALL_STATUSES_MS
    return age <= HISTORY_CLOSED_MS


def _matches(order: FakeOrder, category: Category, filters: dict[str, str]) -> bool:
    return (
        order.category is category
        and filters.get("symbol") in (None, "", order.symbol)
        and filters.get("baseCoin") in (None, "", order.base_coin)
        and filters.get("settleCoin") in (None, "", order.settle_coin)
    )


def _newest_first(orders: Iterable[FakeOrder]) -> list[FakeOrder]:
    return sorted(orders, key=lambda order: (order.created_ms, order.order_id), reverse=True)

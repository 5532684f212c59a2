"""Reconciliation of one key's account: Bybit's state fetched by REST and merged into the user
database, on every (re)connect before the account is reported live, and periodically after.

Bybit's private stream replays nothing missed while it was down, so nothing it said is trusted to be
complete. A reconciliation merges, through the very writes the stream's pushes take (forward only,
once per ``execId``), so that it can run beside the stream, twice, or late without harm:

- open orders (linear by settle coin, spot): each brought forward, an order placed elsewhere stored
  as ``external``;
- every order the database holds open that Bybit no longer lists is looked up by its
  ``orderLinkId`` (or Bybit's id) in the realtime query and the history: found, it moves to what Bybit
  shows; not found, nothing is concluded (it stays as it is and is counted ``unresolved``);
- executions since the newest stored one, less ``EXECUTION_MARGIN`` (seven days back when none is
  stored), in Bybit's 7-day windows; an execution of an order not stored brings that order in;
- positions (linear by settle coin; a stored one no longer listed is read by its symbol: Bybit lists
  only open positions) and the unified wallet's coins.

Returns what it corrected, by kind.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

from bybit_client import AsyncBybitClient, Category
from core_config import get_logger
from db_core import Database
from db_user import (
    AccountKey,
    Actor,
    apply_balances,
    apply_executions,
    apply_order,
    apply_position,
    fill_of,
    newest_execution_time,
    open_orders_of,
    stored_positions,
    unlinked_order_ids,
)

logger = get_logger(__name__)

# Categories whose accounts are followed (the ones the fake and the order routes trade), and the
# settle coins a linear listing needs.
CATEGORIES = (Category.LINEAR, Category.SPOT)
SETTLE_COINS = ("USDT",)
# Fills are fetched again from this long before the newest stored one: executions of one instant, or
# stamped by a clock a little behind, are not skipped (the repeats are recognised by execId).
EXECUTION_MARGIN = timedelta(minutes=5)
# How far back a key with no stored fill is read (one of Bybit's windows).
FIRST_LOOKBACK = timedelta(days=7)
RECONCILE_ACTOR = Actor("system:accounts")


async def reconcile_account(key: AccountKey, bybit: AsyncBybitClient, database: Database) -> dict[str, int]:
    """Fetch the account's state from Bybit and merge it; returns the corrections by kind."""
    corrections: Counter[str] = Counter()
    detail = "reconciled with Bybit"
    listed: set[str] = set()
    for category in CATEGORIES:
        coins: tuple[str | None, ...] = SETTLE_COINS if category is Category.LINEAR else (None,)
        for coin in coins:
            orders = await bybit.open_orders(category, settle_coin=coin)
            async with database.session() as session:
                for found in orders:
                    listed.add(found.order_id)
                    _, changed = await apply_order(
                        session, key, category.value, found, RECONCILE_ACTOR, detail
                    )
                    corrections["orders"] += changed
    async with database.session() as session:
        stored_open = await open_orders_of(session, key.credential_id)
    for order in stored_open:
        if order.bybit_order_id in listed:
            continue
        # Thought open, no longer listed: only Bybit's record of it says what became of it.
        looked_up = await bybit.find_order(
            order.category,
            order_link_id=order.order_link_id,
            order_id=None if order.order_link_id else order.bybit_order_id,
        )
        if looked_up is None:
            corrections["unresolved"] += 1
            logger.info("reconcile: an open order is not found at Bybit", order_id=order.id)
            continue
        async with database.session() as session:
            _, changed = await apply_order(session, key, order.category, looked_up, RECONCILE_ACTOR, detail)
            corrections["orders"] += changed
    await _executions(key, bybit, database, corrections)
    await _positions(key, bybit, database, corrections)
    asked_at = datetime.now(UTC)
    wallet = await bybit.wallet_balance()
    async with database.session() as session:
        corrections["balances"] += await apply_balances(session, key, wallet.coins, asked_at)
    return dict(corrections)


async def _executions(
    key: AccountKey, bybit: AsyncBybitClient, database: Database, corrections: Counter[str]
) -> None:
    now = datetime.now(UTC)
    async with database.session() as session:
        newest = await newest_execution_time(session, key.credential_id)
    start = newest - EXECUTION_MARGIN if newest is not None else now - FIRST_LOOKBACK
    for category in CATEGORIES:
        fetched = [execution async for execution in bybit.iter_executions(category, start, now)]
        if not fetched:
            continue
        async with database.session() as session:
            added = await apply_executions(
                session, key, [(fill_of(e, category.value), e.order_link_id) for e in fetched]
            )
        corrections["executions"] += added
    async with database.session() as session:
        unlinked = await unlinked_order_ids(session, key.credential_id)
    # Fills of orders never seen (placed and finished elsewhere while no stream listened): the order
    # itself is read and stored, which links its fills.
    for order_id in sorted(unlinked):
        for category in CATEGORIES:
            found = await bybit.find_order(category, order_id=order_id)
            if found is None:
                continue
            async with database.session() as session:
                _, changed = await apply_order(
                    session, key, category.value, found, RECONCILE_ACTOR, "reconciled with Bybit"
                )
            corrections["orders"] += changed
            break


async def _positions(
    key: AccountKey, bybit: AsyncBybitClient, database: Database, corrections: Counter[str]
) -> None:
    listed: set[str] = set()
    for coin in SETTLE_COINS:
        positions = await bybit.positions(Category.LINEAR, settle_coin=coin)
        async with database.session() as session:
            for position in positions:
                listed.add(position.symbol)
                corrections["positions"] += await apply_position(
                    session, key, Category.LINEAR.value, position
                )
    async with database.session() as session:
        stored = await stored_positions(session, key.credential_id)
    for row in stored:
        if row.category != Category.LINEAR.value or row.symbol in listed or not row.size:
            continue
        # Stored open but not listed: closed meanwhile; its own (empty) state says so.
        for position in await bybit.positions(Category.LINEAR, symbol=row.symbol):
            async with database.session() as session:
                corrections["positions"] += await apply_position(
                    session, key, Category.LINEAR.value, position
                )

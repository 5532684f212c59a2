"""The order tracker: a task in the api's lifespan that resolves every order whose outcome is not
known, including those a previous run left behind.

Every ``TRACK_INTERVAL`` it claims the unresolved orders (``pending``: stored, its answer never
recorded, perhaps never sent; ``pending_unknown``: sent, the answer proved nothing) whose lease ran
out (``db_user.claim_unresolved_orders``: several api processes never take the same one), and for
each:

- while the order is young (``RESEND_WINDOW``), sends its create again under the same
  ``orderLinkId``: it is placed now, or Bybit refuses the repeated id and the client reports the
  order an earlier send placed; it can never be placed twice;
- after that, only looks it up by ``orderLinkId``: found, it moves to Bybit's state; not found, it
  stays unresolved until its absence is proven (``order_sending.absence_provable``), then it is
  ``not_placed``. An order is never called failed on a guess.

An order still unresolved is leased again for a backoff growing with its sends (at most
``MAX_BACKOFF``), so an outage is not hammered and every order is tried again within seconds of
the outage ending. The sends come out of the same per-account budget as the routes' (waiting for
it up to ``TRACKER_BUDGET_WAIT``).
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from api_service.bybit_access import bybit_budget
from api_service.order_sending import (
    absence_provable,
    fills_of,
    found_update,
    not_placed_update,
    outcome_update,
    send_create,
    trading_client,
)
from api_service.resources import Resources
from bybit_client import BybitError
from core_config import get_logger
from db_user import (
    CredentialContext,
    Order,
    OrderState,
    VaultError,
    claim_unresolved_orders,
    get_bybit_credential,
    move_order,
    postpone_order,
    record_executions,
    record_send,
)

logger = get_logger(__name__)

TRACK_INTERVAL = 0.25
RESEND_WINDOW = timedelta(seconds=60)
MAX_BACKOFF = 2.0
TRACKER_BUDGET_WAIT = 5.0
# Orders claimed at once, and worked on at once.
CLAIM_BATCH = 200
CONCURRENCY = 32
# A round that fails (the user database away) is logged at most this often.
WARN_EVERY = 30.0


def lease_for(resources: Resources) -> timedelta:
    """How long a sender holds an order: its call's deadline, and room to record the answer."""
    return timedelta(seconds=resources.settings.order_send_timeout * 2 + 2)


class OrderTracker:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.budget = bybit_budget(resources.settings, resources.redis, max_wait=TRACKER_BUDGET_WAIT)
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def run(self) -> None:
        """Resolve unresolved orders until cancelled."""
        warned_at = -WARN_EVERY
        while True:
            try:
                worked = await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database outage: try again next round, warn now and then
                now = time.monotonic()
                if now - warned_at >= WARN_EVERY:
                    warned_at = now
                    logger.warning("order tracker: a round failed; trying again", error=type(exc).__name__)
                worked = 0
            if worked < CLAIM_BATCH:
                await asyncio.sleep(TRACK_INTERVAL)

    async def pass_once(self) -> int:
        """One round: claim what is due and resolve it; returns how many orders were claimed."""
        async with self.resources.user_db.session() as session:
            claimed = await claim_unresolved_orders(
                session, lease=lease_for(self.resources), limit=CLAIM_BATCH
            )
        if claimed:
            await asyncio.gather(*(self._guarded(order) for order in claimed))
        return len(claimed)

    async def _guarded(self, order: Order) -> None:
        async with self._slots:
            try:
                await self.resolve(order)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the lease runs out and the next round tries again
                logger.warning(
                    "order tracker: resolving an order failed", order_id=order.id, error=type(exc).__name__
                )

    async def resolve(self, order: Order) -> None:
        resources = self.resources
        settings = resources.settings
        async with resources.user_db.session() as session:
            credential = (
                await get_bybit_credential(session, order.user_id, order.credential_id)
                if order.credential_id is not None
                else None
            )
        if credential is None:
            # The key was forgotten: nothing can be sent or looked up; the order stays unresolved.
            await self._postpone(order, 60.0)
            return
        try:
            secret = resources.vault.decrypt(
                credential.secret_ciphertext, credential.key_id, CredentialContext.of(credential)
            )
        except VaultError:
            await self._postpone(order, 60.0)
            return
        now = datetime.now(UTC)
        resend = now - order.created_at < RESEND_WINDOW
        found = None
        try:
            async with trading_client(settings, credential, secret, self.budget) as bybit:
                if resend:
                    async with resources.user_db.session() as session:
                        await record_send(session, order.id, lease_for(resources))
                    outcome = await send_create(bybit, order)
                    change = outcome_update(outcome)
                    if change.state is OrderState.REJECTED:
                        # Sent before: the refusal may stem from an earlier send that placed it.
                        found = await bybit.find_order(order.category, order_link_id=order.order_link_id)
                        change = found_update(found) if found is not None else change
                else:
                    found = await bybit.find_order(order.category, order_link_id=order.order_link_id)
                    if found is not None:
                        change = found_update(found)
                    elif absence_provable(order, settings):
                        change = not_placed_update()
                    else:
                        change = None
                fills = await fills_of(bybit, order, found) if found is not None else []
        except BybitError as exc:  # the budget held the call, or the lookup went unanswered
            logger.info("order tracker: Bybit did not answer", order_id=order.id, error=type(exc).__name__)
            change, fills = None, []
        if change is not None and change.state is not OrderState.PENDING_UNKNOWN:
            async with resources.user_db.session() as session:
                await move_order(session, order.id, change)
                await record_executions(session, order.user_id, order.id, fills)
            return
        async with resources.user_db.session() as session:
            if change is not None:
                await move_order(session, order.id, change)
            await postpone_order(session, order.id, timedelta(seconds=_backoff(order.send_attempts)))

    async def _postpone(self, order: Order, seconds: float) -> None:
        async with self.resources.user_db.session() as session:
            await postpone_order(session, order.id, timedelta(seconds=seconds))


def _backoff(sends: int) -> float:
    return float(min(MAX_BACKOFF, 0.25 * 2 ** max(0, sends - 1)))


@contextlib.asynccontextmanager
async def running_tracker(resources: Resources) -> AsyncIterator[asyncio.Task[None]]:
    """The tracker running for the block's duration (the api's lifespan)."""
    task = asyncio.create_task(OrderTracker(resources).run(), name="order-tracker")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

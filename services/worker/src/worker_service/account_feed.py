"""``AccountFeed``: one key's account followed live: its private stream (order, execution, position,
wallet), every push written to the user database, and reconciliation with Bybit's REST answers.

The feed reads the stream's items in order. ``Connected`` (the first connection and every reconnect)
reports the account ``reconciling`` (new orders on it wait), merges Bybit's state
(``account_reconcile``) and only then reports it ``live``; pushes that arrived meanwhile are queued by
the stream and written after, through the same forward-only writes, so their order does not matter.
``Disconnected`` reports it ``down``. When no push arrived for ``check_interval`` seconds the account
is reconciled again (a stream that is open but silent misses what it does not say). A reconciliation
that fails (Bybit away) is tried again with a growing pause; the account stays ``reconciling``.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bybit_client import AsyncBybitClient, BybitError
from bybit_client.errors import BybitStreamAuthError
from bybit_client.streams import (
    BybitStream,
    Connected,
    Disconnected,
    ExecutionMessage,
    OrderMessage,
    PositionMessage,
    StreamItem,
    WalletMessage,
)
from core_config import get_logger
from db_core import Database
from db_user import (
    AccountKey,
    AccountStatus,
    Actor,
    apply_balances,
    apply_executions,
    apply_order,
    apply_position,
    fill_of,
    report_account,
)
from worker_service.account_metrics import record_event, record_reconcile
from worker_service.account_reconcile import reconcile_account

logger = get_logger(__name__)

STREAM_ACTOR = Actor("system:accounts")
RETRY_FIRST, RETRY_MAX = 1.0, 30.0


@dataclass
class FeedState:
    """What the operator view shows of a feed (kept in memory, written with each lease renewal)."""

    status: AccountStatus = AccountStatus.WAITING
    connected: bool = False
    last_event_at: datetime | None = None
    events: int = 0
    reconciles: int = 0
    reported_events: int = -1


class AccountFeed:
    def __init__(
        self,
        key: AccountKey,
        *,
        holder: str,
        stream: BybitStream,
        rest: AsyncBybitClient,
        database: Database,
        check_interval: float,
    ) -> None:
        self.key = key
        self.holder = holder
        self.stream = stream
        self.rest = rest
        self.database = database
        self.check_interval = check_interval
        self.state = FeedState()

    def __repr__(self) -> str:
        return f"AccountFeed(credential_id={self.key.credential_id}, status={self.state.status.value})"

    async def run(self) -> None:
        """Follow the account until cancelled or the stream ends (a refused login: ``unfit``)."""
        await self.stream.start()
        loop = asyncio.get_running_loop()
        quiet_until = loop.time() + self.check_interval
        while True:
            try:
                async with asyncio.timeout(max(0.0, quiet_until - loop.time())):
                    item = await self.stream.next()
            except TimeoutError:
                if self.state.status is AccountStatus.LIVE:
                    await self.reconcile("periodic")
                quiet_until = loop.time() + self.check_interval
                continue
            except BybitStreamAuthError as error:
                await self._report(
                    AccountStatus.UNFIT,
                    connected=False,
                    problem=f"Bybit refused the login: {error.ret_msg}"[:300],
                )
                return
            if item is None:
                return
            await self.handle(item)
            if not isinstance(item, (Connected, Disconnected)):
                quiet_until = loop.time() + self.check_interval

    async def handle(self, item: StreamItem) -> None:
        if isinstance(item, Connected):
            self.state.connected = True
            reason = "connect" if item.reconnects == 0 else "reconnect"
            await self.reconcile(reason)
        elif isinstance(item, Disconnected):
            self.state.connected = False
            await self._report(AccountStatus.DOWN, connected=False, problem=item.reason[:300])
        else:
            await self.write(item)

    async def write(self, item: StreamItem) -> None:
        """One push, in one transaction (retried until it commits: the writes repeat safely)."""
        delay = RETRY_FIRST
        while True:
            try:
                await self._write(item)
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database away: wait and write it again
                logger.warning(
                    "accounts: a push not written; again",
                    credential_id=self.key.credential_id,
                    error=type(error).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)

    async def _write(self, item: StreamItem) -> None:
        key = self.key
        async with self.database.session() as session:
            if isinstance(item, OrderMessage):
                for order in item.orders:
                    category = str(order.category or "linear")
                    await apply_order(
                        session,
                        key,
                        category,
                        order,
                        STREAM_ACTOR,
                        f"Bybit pushed {order.order_status.value}",
                    )
            elif isinstance(item, ExecutionMessage):
                await apply_executions(
                    session,
                    key,
                    [(fill_of(e, str(e.category or "linear")), e.order_link_id) for e in item.executions],
                )
            elif isinstance(item, PositionMessage):
                for position in item.positions:
                    await apply_position(session, key, str(position.category or "linear"), position)
            elif isinstance(item, WalletMessage):
                for wallet in item.wallets:
                    await apply_balances(session, key, wallet.coins, item.creation_time)
            else:
                return
        self.state.events += 1
        self.state.last_event_at = datetime.now(UTC)
        record_event(item.kind, (self.state.last_event_at - item.creation_time).total_seconds())

    async def reconcile(self, reason: str) -> None:
        """Merge Bybit's state, reporting the account ``reconciling`` meanwhile and ``live`` after."""
        await self._report(AccountStatus.RECONCILING, connected=self.state.connected)
        delay = RETRY_FIRST
        while True:
            started = time.monotonic()
            try:
                corrections = await reconcile_account(self.key, self.rest, self.database)
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Bybit or the database away: try again, still reconciling
                record_reconcile(reason, "failed", {})
                problem = f"reconcile failed: {type(error).__name__}"
                if isinstance(error, BybitError):
                    problem += f" {error.ret_code or ''} {error.ret_msg}"[:200]
                logger.warning(
                    "accounts: reconcile failed; again", credential_id=self.key.credential_id, error=problem
                )
                with contextlib.suppress(Exception):
                    await self._report(
                        AccountStatus.RECONCILING, connected=self.state.connected, problem=problem[:300]
                    )
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
        # The REST connections are let go until the next reconciliation: a thousand idle pools
        # would cost more memory than reopening one now and then.
        with contextlib.suppress(Exception):
            await self.rest.aclose()
        self.state.reconciles += 1
        record_reconcile(reason, "succeeded", corrections)
        if any(corrections.values()):
            logger.info(
                "accounts: reconciled",
                credential_id=self.key.credential_id,
                reason=reason,
                seconds=round(time.monotonic() - started, 3),
                **corrections,
            )
        await self._report(
            AccountStatus.LIVE,
            connected=self.state.connected,
            problem=None,
            last_reconcile_at=datetime.now(UTC),
            last_corrections={"reason": reason, **corrections},
        )

    async def _report(self, status: AccountStatus, **fields: object) -> None:
        self.state.status = status
        async with self.database.session() as session:
            await report_account(session, self.holder, self.key.credential_id, status=status, **fields)

    async def close(self) -> None:
        await self.stream.close()
        await self.rest.aclose()

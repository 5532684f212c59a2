"""``worker-service accounts``: the process that follows the keys' accounts live.

It holds the master key (to open each key's secret) and the user database, and nothing of the
general database. Every ``lease / 3`` seconds it (``account_leases``, PostgreSQL row leases):

- adds a lease row for each newly stored key, renews the leases of the keys it follows, and stops
  following every key whose lease it no longer holds (the key was removed, or the lease was lost):
  a removed key's stream is closed within one renewal;
- gives back what it holds beyond its share (every key over the processes alive), so a process that
  joins gets work, and claims free keys (never held, given back, or of a process that died: its
  leases ran out) up to its share;
- writes each followed account's connection and last event (``report_account``).

A key that may not trade (``db_user.trading_refusal``) or whose secret cannot be opened is held but
not followed (``unfit``). When the leases cannot be renewed for a whole lease (the database away),
every feed stops: other processes will take the keys. SIGTERM or SIGINT closes every stream, gives
the leases back and exits 0.
"""

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from datetime import timedelta

import aiohttp
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import select

from bybit_client import AsyncBybitClient, Network
from bybit_client.redis_budget import AsyncRedisBudget
from bybit_client.streams import PRIVATE_TOPICS, BybitStream, private_url
from bybit_client.telemetry import call_observer
from core_config import Settings, get_logger
from core_telemetry import telemetry
from db_core import Database
from db_user import (
    USER_DB,
    AccountKey,
    AccountStatus,
    BybitCredential,
    CredentialContext,
    Vault,
    VaultError,
    add_missing_leases,
    announce_holder,
    claim_leases,
    fair_share,
    release_leases,
    renew_leases,
    report_account,
    retire_holder,
    trading_refusal,
)
from worker_service.account_feed import AccountFeed
from worker_service.account_metrics import observe_held
from worker_service.bybit_budget import budget_policy
from worker_service.streaming import stream_settings

logger = get_logger(__name__)

APPLICATION_NAME = "accounts"
# A reconciliation's calls wait this long at most for the shared call budget.
ACCOUNTS_BUDGET_WAIT = 30.0


def holder_name() -> str:
    """This process's name in the leases: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class AccountsProcess:
    def __init__(self, settings: Settings, *, holder: str | None = None) -> None:
        self.settings = settings
        self.holder = holder or holder_name()
        self.lease = timedelta(seconds=settings.accounts_lease_seconds)
        self.database = Database(USER_DB, settings, application_name=APPLICATION_NAME)
        self.vault = Vault.from_settings(settings)
        self.redis = Redis.from_url(
            settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5
        )
        # One HTTP session carries every private stream of the process (a session per stream would
        # cost a connector and its buffers each).
        self.http: aiohttp.ClientSession | None = None
        self.feeds: dict[int, AccountFeed] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.unfit: set[int] = set()

    @property
    def held(self) -> set[int]:
        return set(self.feeds) | self.unfit

    async def run(self, stop: asyncio.Event) -> None:
        observe_held(lambda: [feed.state.status.value for feed in self.feeds.values()])
        interval = self.settings.accounts_lease_seconds / 3
        loop = asyncio.get_running_loop()
        renewed_at = loop.time()
        logger.info(
            "accounts starting", holder=self.holder, lease_seconds=self.settings.accounts_lease_seconds
        )
        try:
            while not stop.is_set():
                try:
                    await self.round()
                    renewed_at = loop.time()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the database away: the leases run out meanwhile
                    logger.warning("accounts: leases not renewed", error=type(error).__name__)
                    if loop.time() - renewed_at > self.settings.accounts_lease_seconds and self.held:
                        logger.warning("accounts: leases lost; every stream closed", held=len(self.held))
                        await self.drop(self.held)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await stop.wait()
        finally:
            held = self.held
            await self.drop(held)
            with contextlib.suppress(Exception):
                async with self.database.session() as session:
                    await release_leases(session, self.holder, held)
                    await retire_holder(session, self.holder)
            logger.info("accounts stopped", holder=self.holder, released=len(held))

    async def round(self) -> None:
        """One renewal: keep, give back and take keys; start and stop their feeds."""
        async with self.database.session() as session:
            await announce_holder(session, self.holder, self.lease)
            await add_missing_leases(session)
            kept = await renew_leases(session, self.holder, self.held, self.lease)
            share = await fair_share(session, self.holder)
            surplus = sorted(kept)[share:] if len(kept) > share else []
            if surplus:
                await release_leases(session, self.holder, surplus)
                kept -= set(surplus)
        lost = self.held - kept
        if lost:
            await self.drop(lost)
        taken: list[int] = []
        if len(kept) < share:
            async with self.database.session() as session:
                taken = await claim_leases(session, self.holder, self.lease, share - len(kept))
        if taken:
            await self.follow(taken)
        await self.report()
        for credential_id, task in list(self.tasks.items()):
            if task.done():  # the stream ended (a refused login): held, not followed
                self.tasks.pop(credential_id)
                feed = self.feeds.pop(credential_id)
                await feed.close()
                self.unfit.add(credential_id)
        if taken or lost or surplus:
            logger.info(
                "accounts: leases",
                held=len(self.held),
                taken=len(taken),
                dropped=len(lost),
                given_back=len(surplus),
                share=share,
            )

    async def follow(self, credential_ids: list[int]) -> None:
        async with self.database.session() as session:
            credentials = list(
                (
                    await session.scalars(
                        select(BybitCredential).where(BybitCredential.id.in_(credential_ids))
                    )
                ).all()
            )
        for credential in credentials:
            problem = self._unfit(credential)
            secret: SecretStr | None = None
            if problem is None:
                try:
                    secret = self.vault.decrypt(
                        credential.secret_ciphertext, credential.key_id, CredentialContext.of(credential)
                    )
                except VaultError:
                    problem = "the key's secret cannot be opened with this process's master keys"
            if problem is not None or secret is None:
                self.unfit.add(credential.id)
                async with self.database.session() as session:
                    await report_account(
                        session, self.holder, credential.id, status=AccountStatus.UNFIT, problem=problem
                    )
                continue
            feed = self._feed(credential, secret)
            self.feeds[credential.id] = feed
            self.tasks[credential.id] = asyncio.create_task(feed.run(), name=f"account {credential.id}")

    def _unfit(self, credential: BybitCredential) -> str | None:
        refusal = trading_refusal(credential)
        if refusal is not None:
            return refusal
        network = Network(credential.network)
        if not network.is_bybit and network != self.settings.bybit_network:
            return f"this service does not run the {network.value} exchange"
        return None

    def _feed(self, credential: BybitCredential, secret: SecretStr) -> AccountFeed:
        settings = self.settings
        network = Network(credential.network)
        configured = network == settings.bybit_network
        rest_url = settings.bybit_api_url if configured else network.rest_url
        stream_url = (
            private_url(settings.bybit_stream_url)
            if configured and ("bybit_stream_url" in settings.model_fields_set or not network.is_bybit)
            else network.private_stream_url
        )
        policy = budget_policy(settings, ACCOUNTS_BUDGET_WAIT)
        rest = AsyncBybitClient(
            rest_url,
            credential.api_key,
            secret,
            timeout=settings.bybit_timeout,
            recv_window=settings.bybit_recv_window,
            ca_file=settings.bybit_ca_file,
            observer=call_observer() if telemetry().plan.enabled else None,
            budget=AsyncRedisBudget(self.redis, prefix=settings.bybit_budget_prefix, policy=policy),
            max_connections=4,
        )
        if self.http is None:
            self.http = aiohttp.ClientSession()
        stream = BybitStream(
            stream_url,
            PRIVATE_TOPICS,
            api_key=credential.api_key,
            api_secret=secret.get_secret_value(),
            settings=stream_settings(settings.stream_ping_interval, settings.stream_silence_timeout),
            ca_file=settings.bybit_ca_file,
            session=self.http,
        )
        return AccountFeed(
            AccountKey(credential.user_id, credential.id),
            holder=self.holder,
            stream=stream,
            rest=rest,
            database=self.database,
            check_interval=settings.accounts_check_interval,
        )

    async def drop(self, credential_ids: set[int] | list[int]) -> None:
        """Stop following ``credential_ids`` (their streams closed)."""
        for credential_id in credential_ids:
            self.unfit.discard(credential_id)
            task = self.tasks.pop(credential_id, None)
            feed = self.feeds.pop(credential_id, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            if feed is not None:
                await feed.close()

    async def report(self) -> None:
        """Each feed's connection and last event, for those that changed since the last report."""
        changed = [feed for feed in self.feeds.values() if feed.state.events != feed.state.reported_events]
        if not changed:
            return
        async with self.database.session() as session:
            for feed in changed:
                await report_account(
                    session,
                    self.holder,
                    feed.key.credential_id,
                    connected=feed.state.connected,
                    last_event_at=feed.state.last_event_at,
                    reconciles=feed.state.reconciles,
                )
                feed.state.reported_events = feed.state.events

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.redis.aclose()
        await self.database.dispose()


async def run_accounts(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    process = AccountsProcess(settings)
    telemetry().observe_pools(process.database.pool_stats)
    try:
        await process.run(stop)
    finally:
        await process.close()

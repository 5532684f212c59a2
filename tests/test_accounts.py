"""Accounts kept equal to Bybit's by ``worker-service accounts``: real account processes (subprocesses),
real PostgreSQL and Redis, the api in-process, the fake exchange over HTTP and WebSocket.

- private streams dropped at random while orders (through the api, and placed directly at the fake)
  receive partial fills, with private pushes duplicated and reordered: after each reconnect's
  reconciliation the stored orders, fills, positions and balances equal the fake's;
- SIGKILL of one of three processes: every key is held and live again within 30 s, and the same
  equalities hold;
- orders placed directly at the fake appear in the user's list, marked external;
- a removed key's stream is closed within one lease period.

Sizes are reduced; ``ACCOUNTS_SOAK=1`` (``make soak``) runs the issue's full ones.
"""

import asyncio
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from test_support.orders import Trader, new_traders, order_settings, place, sync_instruments
from test_support.scratch import scratch_database, test_server_url
from test_support.tokens import issue_tokens
from test_support.worker_process import AccountsProcess

from api_service import create_app, serve_app
from bybit_client import OrderRequest, WalletBalance
from bybit_client.testing import FakeBybit
from bybit_client.testing.streams import StreamFault
from core_config import Settings, build_settings
from db_core import Database
from db_core.migrations import upgrade
from db_core.registry import database_spec
from db_user import USER_DB, AccountBalance, AccountLease, AccountPosition, Execution, Order

pytestmark = pytest.mark.asyncio(loop_scope="session")

SOAK = os.environ.get("ACCOUNTS_SOAK") == "1"
ORDERS = 500 if SOAK else 100
DROPS = 50 if SOAK else 10
TRADERS = 4
LEASE_SECONDS = 3.0
SYMBOL = "BTCUSDT"
OPEN_STATUSES = {"New", "PartiallyFilled", "Untriggered"}
OPEN_STATES = {"accepted", "new", "partially_filled"}


@pytest.fixture
def settings(test_settings: Settings, fake_bybit: FakeBybit, tmp_path: Path) -> Iterator[Settings]:
    """The test's own databases (the account processes follow every key stored in its user database;
    the fake's instruments go to its general one), the api
    and the account processes trading with the fake, short leases and stream timings."""
    with (
        scratch_database("accounts", test_server_url()) as url,
        scratch_database("accounts_general", test_server_url()) as general_url,
    ):
        upgrade(database_spec("user"), build_settings(environment="test"), url=url)
        upgrade(database_spec("general"), build_settings(environment="test"), url=general_url)
        yield order_settings(
            test_settings,
            fake_bybit,
            tmp_path,
            database_url_user=url,
            database_url_general=general_url,
            bybit_stream_url=fake_bybit.ws_url,
            stream_ping_interval=1.0,
            stream_silence_timeout=3.0,
            accounts_lease_seconds=LEASE_SECONDS,
            accounts_check_interval=5.0,
        )


@pytest_asyncio.fixture(loop_scope="session")
async def api(settings: Settings, fake_bybit: FakeBybit) -> AsyncIterator[httpx.AsyncClient]:
    await sync_instruments(settings, fake_bybit)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=serve_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=30) as client:
            yield client


@pytest_asyncio.fixture(loop_scope="session")
async def user_db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(USER_DB, settings, application_name="tests")
    try:
        yield database
    finally:
        await database.dispose()


def _processes(settings: Settings, count: int) -> list[AccountsProcess]:
    return [AccountsProcess(settings).start() for _ in range(count)]


def _stop(processes: list[AccountsProcess]) -> None:
    for process in processes:
        process.stop()
        process.__exit__(None, None, None)


async def _leases(db: Database, traders: list[Trader]) -> dict[int, AccountLease]:
    async with db.session() as session:
        rows = await session.scalars(
            select(AccountLease).where(AccountLease.credential_id.in_([t.credential_id for t in traders]))
        )
        return {row.credential_id: row for row in rows}


async def _until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        last = await condition()
        if not last:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s: {last}")
        await asyncio.sleep(0.2)


async def _all_live_since(db: Database, traders: list[Trader], since: datetime) -> list[str]:
    """What keeps the traders' accounts from being live and reconciled after ``since`` (empty: none)."""
    leases = await _leases(db, traders)
    problems = []
    for trader in traders:
        lease = leases.get(trader.credential_id)
        if lease is None or lease.holder is None or lease.lease_until <= datetime.now(UTC):
            problems.append(f"{trader.credential_id}: not held")
        elif lease.status != "live" or lease.last_reconcile_at is None or lease.last_reconcile_at < since:
            problems.append(f"{trader.credential_id}: {lease.status}, reconciled {lease.last_reconcile_at}")
    return problems


async def _mismatches(db: Database, fake: FakeBybit, traders: list[Trader]) -> list[str]:
    """Where the stored accounts differ from the fake's (empty: equal)."""
    problems: list[str] = []
    async with db.session() as session:
        for trader in traders:
            key = trader.credential_id
            orders = {
                row.bybit_order_id: row
                for row in await session.scalars(select(Order).where(Order.credential_id == key))
            }
            for view in fake.orders(trader.api_key):
                row = orders.get(view["orderId"])
                if row is None:
                    problems.append(f"{key}: order {view['orderId']} missing")
                    continue
                if row.filled_qty != Decimal(view["cumExecQty"]):
                    problems.append(
                        f"{key}: {view['orderId']} filled {row.filled_qty} != {view['cumExecQty']}"
                    )
                if (view["orderStatus"] in OPEN_STATUSES) != (row.state in OPEN_STATES):
                    problems.append(f"{key}: {view['orderId']} is {row.state}, Bybit {view['orderStatus']}")
            stored_fills = list(
                await session.scalars(select(Execution.exec_id).where(Execution.credential_id == key))
            )
            fake_fills = [fill["execId"] for fill in fake.executions(trader.api_key)]
            if len(stored_fills) != len(set(stored_fills)) or set(stored_fills) != set(fake_fills):
                problems.append(f"{key}: fills {len(stored_fills)} stored, {len(fake_fills)} at Bybit")
            position = fake.position(trader.api_key, SYMBOL)
            stored_position = await session.get(
                AccountPosition, (key, "linear", SYMBOL, 0), populate_existing=True
            )
            stored_size = stored_position.size if stored_position is not None else Decimal(0)
            if stored_size != Decimal(position["size"]):
                problems.append(f"{key}: position {stored_size} != {position['size']}")
            wallet = WalletBalance.model_validate(fake.wallet(trader.api_key))
            balances = {
                row.coin: row
                for row in await session.scalars(
                    select(AccountBalance).where(AccountBalance.credential_id == key)
                )
            }
            for coin in wallet.coins:
                stored = balances.get(coin.coin)
                held = None if stored is None else stored.wallet_balance
                if held != coin.wallet_balance:
                    problems.append(f"{key}: {coin.coin} {held} != {coin.wallet_balance}")
    return problems


class Market:
    """Orders on the traders' accounts (through the api, and placed directly at the fake) and their
    partial fills, drawn from a seed."""

    def __init__(self, api: httpx.AsyncClient, fake: FakeBybit, traders: list[Trader], seed: int) -> None:
        self.api, self.fake, self.traders = api, fake, traders
        self.random = random.Random(seed)
        self.placed = 0

    async def place(self, count: int) -> None:
        for _ in range(count):
            trader = self.random.choice(self.traders)
            side = self.random.choice(["Buy", "Sell"])
            price = "10" if side == "Buy" else "16"
            qty = str(self.random.randint(2, 6))
            if self.random.random() < 0.5:
                answer = await place(
                    self.api, trader, uuid.uuid4().hex, trader.order(side=side, price=price, qty=qty)
                )
                assert answer.status_code in (200, 201), answer.text
            else:
                request = OrderRequest(
                    symbol=SYMBOL,
                    side=side,
                    order_type="Limit",
                    qty=Decimal(qty),
                    price=Decimal(price),
                    time_in_force="GTC",
                )
                self.fake.place_order(trader.api_key, "linear", request, anonymous=self.random.random() < 0.3)
            self.placed += 1

    def fill(self, count: int) -> None:
        """``count`` partial fills of open orders, one unit each."""
        for _ in range(count):
            trader = self.random.choice(self.traders)
            open_orders = [o for o in self.fake.orders(trader.api_key) if o["orderStatus"] in OPEN_STATUSES]
            if open_orders:
                self.fake.fill(trader.api_key, order_id=self.random.choice(open_orders)["orderId"], qty="1")


async def test_accounts_stay_equal_through_drops_duplicates_and_reorders(
    settings: Settings, api: httpx.AsyncClient, fake_bybit: FakeBybit, user_db: Database
) -> None:
    traders = await new_traders(settings, api, fake_bybit, TRADERS)
    processes = _processes(settings, 2)
    try:
        started = datetime.now(UTC)
        await _until(partial(_all_live_since, user_db, traders, started), 30, "every account live")
        fake_bybit.streams.private_faults(duplicate=0.05, reorder=0.05)
        market = Market(api, fake_bybit, traders, seed=30)
        per_round = ORDERS // DROPS
        for _ in range(DROPS):
            await market.place(per_round)
            market.fill(per_round * 2)
            victim = market.random.choice(traders)
            dropped_at = datetime.now(UTC)
            fake_bybit.streams.inject(StreamFault.DROP, api_key=victim.api_key).result(timeout=5)
            # Fills while the stream is away: Bybit replays none of them.
            market.fill(per_round)
            await asyncio.sleep(market.random.uniform(0.5, 5.0) if SOAK else market.random.uniform(0.5, 1.5))
            await _until(
                partial(_all_live_since, user_db, [victim], dropped_at), 30, "the account reconciled"
            )
            await _until(
                partial(_mismatches, user_db, fake_bybit, traders), 5, "stored accounts equal to Bybit's"
            )
        counts = fake_bybit.streams.private_feed.counts
        assert counts["duplicated"] > 0
        assert counts["reordered"] > 0
        assert market.placed == ORDERS
        # Orders placed at the fake directly are the user's, marked external.
        listed = await api.get("/v1/me/orders", params={"limit": "200"}, headers=traders[0].auth)
        assert listed.status_code == 200
        origins = {item["origin"] for item in listed.json()["items"]}
        assert origins == {"api", "external"}
        # The user's positions and balances, from the stored state, equal the fake's.
        trader = traders[0]
        base = f"/v1/me/bybit-credentials/{trader.credential_id}"
        shown = (await api.get(f"{base}/positions", headers=trader.auth)).json()
        assert shown["following"]["status"] == "live"
        sizes = {item["symbol"]: Decimal(item["size"]) for item in shown["items"]}
        assert sizes.get(SYMBOL, Decimal(0)) == Decimal(fake_bybit.position(trader.api_key, SYMBOL)["size"])
        shown = (await api.get(f"{base}/balances", headers=trader.auth)).json()
        wallet = WalletBalance.model_validate(fake_bybit.wallet(trader.api_key))
        assert {item["coin"]: Decimal(item["wallet_balance"]) for item in shown["items"]} == {
            coin.coin: coin.wallet_balance for coin in wallet.coins
        }
        other = await api.get(
            f"/v1/me/bybit-credentials/{traders[1].credential_id}/balances", headers=trader.auth
        )
        assert other.status_code == 404
        # The operators' view: every account, each process's share.
        tokens = await issue_tokens(settings)
        view = (await api.get("/v1/accounts", headers=tokens.operator_auth)).json()
        assert len(view["processes"]) == 2
        assert sum(process["held"] for process in view["processes"]) == TRADERS
        assert view["counts"] == {"live": TRADERS}
        assert (await api.get("/v1/accounts", headers=trader.auth)).status_code == 403
    finally:
        _stop(processes)


async def test_a_killed_process_s_accounts_are_taken_up(
    settings: Settings, api: httpx.AsyncClient, fake_bybit: FakeBybit, user_db: Database
) -> None:
    traders = await new_traders(settings, api, fake_bybit, 6)
    processes = _processes(settings, 3)
    try:
        started = datetime.now(UTC)
        await _until(partial(_all_live_since, user_db, traders, started), 30, "every account live")
        market = Market(api, fake_bybit, traders, seed=31)
        await market.place(20)
        market.fill(20)
        # Spread over the three: each holds some.
        await _until(partial(_spread, user_db, traders, 3), 30, "the keys spread over three processes")
        victim = processes[1]
        holders = {lease.holder for lease in (await _leases(user_db, traders)).values()}
        killed_at = datetime.now(UTC)
        victim.kill()
        market.fill(10)
        await _until(partial(_all_live_since, user_db, traders, started), 30, "every account held again")
        leases = await _leases(user_db, traders)
        assert all(lease.holder in holders for lease in leases.values())
        assert all(lease.lease_until > killed_at for lease in leases.values())
        await _until(
            partial(_mismatches, user_db, fake_bybit, traders), 10, "stored accounts equal to Bybit's"
        )
    finally:
        _stop(processes)


async def _spread(db: Database, traders: list[Trader], count: int) -> list[str]:
    holders = {lease.holder for lease in (await _leases(db, traders)).values() if lease.holder}
    return [] if len(holders) == count else [f"{len(holders)} holders"]


async def test_a_removed_key_s_stream_closes_within_a_lease(
    settings: Settings, api: httpx.AsyncClient, fake_bybit: FakeBybit, user_db: Database
) -> None:
    traders = await new_traders(settings, api, fake_bybit, 2)
    processes = _processes(settings, 2)
    try:
        started = datetime.now(UTC)
        await _until(partial(_all_live_since, user_db, traders, started), 30, "every account live")
        gone = traders[0]

        def streams_of(api_key: str) -> int:
            return sum(1 for c in list(fake_bybit.streams.connections) if c.api_key == api_key)

        assert streams_of(gone.api_key) == 1
        removed = await api.delete(f"/v1/me/bybit-credentials/{gone.credential_id}", headers=gone.auth)
        assert removed.status_code == 204
        removed_at = time.monotonic()
        while streams_of(gone.api_key):
            assert time.monotonic() - removed_at < LEASE_SECONDS, "the removed key's stream is still open"
            await asyncio.sleep(0.05)
        assert streams_of(traders[1].api_key) == 1
    finally:
        _stop(processes)

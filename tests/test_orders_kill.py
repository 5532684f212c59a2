"""The process that sends orders killed (SIGKILL) mid-order: no order lost, none sent twice.

A real ``api-serve`` process trades with the fake exchange. It is killed while creates are held at
the fake: once where the orders never reach the book (stored, then death before any send took
effect), once where the fake placed them and holds the answers (death between Bybit's answer and
the database update). A new process's tracker finds every order left unresolved and settles each
with exactly one order at the fake.
"""

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_support.api_process import ApiProcess
from test_support.databases import migrated_database
from test_support.orders import Trader, forget_traders, new_traders, order_settings, sync_instruments

from bybit_client.testing import FakeBybit, Fault
from core_config import Settings
from db_core import Database
from db_user import USER_DB, list_orders

pytestmark = pytest.mark.asyncio(loop_scope="session")
CREATE = "/v5/order/create"
ORDERS = 5


@pytest.fixture
def settings(test_settings: Settings, fake_bybit: FakeBybit, tmp_path: Path) -> Iterator[Settings]:
    # The fake's instruments go to a general database of the test's own (the shared one's are
    # counted by other tests). The sender waits on the held creates (3 s) longer than it takes to
    # kill it.
    with migrated_database("general") as general_url:
        yield order_settings(
            test_settings, fake_bybit, tmp_path, order_send_timeout=3.0, database_url_general=general_url
        )


@pytest.fixture
def start_api(settings: Settings, tmp_path: Path) -> Iterator[list[ApiProcess]]:
    started: list[ApiProcess] = []
    yield started
    for api in started:
        api.stop()
    asyncio.run(forget_traders(settings))


def _serve(settings: Settings, folder: Path, started: list[ApiProcess]) -> ApiProcess:
    folder.mkdir(exist_ok=True)
    api = ApiProcess(settings, {"LOG_LEVEL": "WARNING"}, folder)
    started.append(api)
    api.wait_ready()
    return api


async def _stored(settings: Settings, user_id: int) -> list[tuple[str, str]]:
    database = Database(USER_DB, settings, application_name="tests")
    try:
        async with database.session() as session:
            return [(o.order_link_id or "", o.state) for o in await list_orders(session, user_id, limit=100)]
    finally:
        await database.dispose()


@pytest.mark.parametrize("fault", [Fault.TIMEOUT_BEFORE, Fault.LOST_ANSWER])
async def test_a_killed_sender_loses_no_order_and_sends_none_twice(
    settings: Settings, fake_bybit: FakeBybit, start_api: list[ApiProcess], tmp_path: Path, fault: Fault
) -> None:
    await sync_instruments(settings, fake_bybit)
    first = _serve(settings, tmp_path / "first", start_api)
    async with httpx.AsyncClient(base_url=first.base_url, timeout=30) as api:
        (trader,) = await new_traders(settings, api, fake_bybit, 1)
        fake_bybit.slow_seconds = 30.0  # held far past the kill
        fake_bybit.fail_next(ORDERS, fault, path=CREATE)
        posts = [asyncio.create_task(_post(api, trader)) for _ in range(ORDERS)]
        deadline = time.monotonic() + 20
        # Every order stored and its create at the fake, held there: now the sender dies.
        while len(await _stored(settings, trader.user_id)) < ORDERS or fake_bybit.count(CREATE) < ORDERS:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        first.process.kill()
        first.process.wait()
        await asyncio.gather(*posts, return_exceptions=True)
    # Every order unresolved when the sender died (pending: its answer never recorded; on a slow
    # machine a first create may have timed out into pending_unknown before the kill).
    assert {state for _, state in await _stored(settings, trader.user_id)} <= {"pending", "pending_unknown"}
    fake_bybit.faults.clear()
    _serve(settings, tmp_path / "second", start_api)
    deadline = time.monotonic() + 30
    while True:
        stored = await _stored(settings, trader.user_id)
        if all(state == "accepted" for _, state in stored):
            break
        assert time.monotonic() < deadline, stored
        await asyncio.sleep(0.1)
    at_fake = fake_bybit.orders(trader.api_key)
    assert sorted(o["orderLinkId"] for o in at_fake) == sorted(link for link, _ in stored)
    assert len(stored) == ORDERS


async def _post(api: httpx.AsyncClient, trader: Trader) -> None:
    await api.post(
        "/v1/me/orders", json=trader.order(), headers={**trader.auth, "Idempotency-Key": uuid.uuid4().hex}
    )

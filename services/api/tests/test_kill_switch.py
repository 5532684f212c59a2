"""The kill switch for real: api-serve processes (uvicorn), PostgreSQL, Redis and the fake exchange.

Orders are placed directly at the fake with the users' keys ("placed elsewhere", as from Bybit's
site): the sweep must cancel them whoever placed them.
"""

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_support.environment import API_SETTINGS, settings_environment
from test_support.tokens import Tokens, issue_tokens

from bybit_client.testing import FakeBybit
from core_config import Settings
from db_core import Database
from db_user import USER_DB, get_user, list_api_tokens

from .conftest import ServedApi, api_environment, open_orders, place_elsewhere, served_apis

API_ADMIN = Path(sys.executable).with_name("api-admin")
# The first sweep answers within the request; the promise is "no open order within 5 s".
PROMISE = 5.0
# A short Bybit timeout keeps the second sweep's wait (the in-flight deadline) short: 2 + 1 + 1 s.
BYBIT_TIMEOUT = "1"

pytestmark = pytest.mark.timeout(240)


@dataclass
class Trader:
    tokens: Tokens
    api_key: str
    secret: str

    @property
    def user_id(self) -> int:
        return self.tokens.user_id


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def operator_token_id(settings: Settings, tokens: Tokens) -> int:
    return asyncio.run(_operator_token_id(settings, tokens))


def email_of(settings: Settings, user_id: int) -> str:
    return asyncio.run(_email_of(settings, user_id))


async def _operator_token_id(settings: Settings, tokens: Tokens) -> int:
    database = Database(USER_DB, settings, application_name="tests")
    try:
        async with database.session() as session:
            found = await list_api_tokens(session, tokens.user_id)
    finally:
        await database.dispose()
    return next(token.id for token in found if token.scope == "operator")


async def _email_of(settings: Settings, user_id: int) -> str:
    database = Database(USER_DB, settings, application_name="tests")
    try:
        async with database.session() as session:
            user = await get_user(session, user_id)
    finally:
        await database.dispose()
    assert user is not None
    return user.email


def environment(settings: Settings) -> Callable[[int], dict[str, str]]:
    return lambda port: api_environment(settings, port, BYBIT_TIMEOUT=BYBIT_TIMEOUT)


@pytest.fixture
def one_api(api_settings: Settings) -> Iterator[httpx.Client]:
    with served_apis(1, environment(api_settings)) as (served,), client(served) as api:
        yield api


def client(served: ServedApi) -> httpx.Client:
    return httpx.Client(base_url=served.base_url, timeout=10)


def trader(settings: Settings, fake: FakeBybit, api: httpx.Client, forget: list[int]) -> Trader:
    """A user with a token whose trading key (of a fresh account at the fake) is stored via the api;
    forgotten after the test."""
    tokens = asyncio.run(issue_tokens(settings))
    forget.append(tokens.user_id)
    api_key, secret = f"KEY{uuid.uuid4().hex[:12].upper()}", f"secret-{uuid.uuid4().hex}"
    fake.add_key(api_key, secret)
    stored = api.put(
        "/v1/me/bybit-credentials", json={"api_key": api_key, "api_secret": secret}, headers=tokens.user_auth
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["fit_for_trading"] is True
    return Trader(tokens, api_key, secret)


def halt(api: httpx.Client, tokens: Tokens, **target: object) -> httpx.Response:
    return api.post("/v1/trading/halts", json={"reason": "tests", **target}, headers=tokens.operator_auth)


def lift(api: httpx.Client, tokens: Tokens, **target: object) -> httpx.Response:
    return api.post("/v1/trading/halts/lift", json=target, headers=tokens.operator_auth)


def items(api: httpx.Client, tokens: Tokens, path: str, **params: str | int) -> list[dict[str, Any]]:
    answer = api.get(path, params=params, headers=tokens.operator_auth)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found


def test_halting_one_user_cancels_their_orders_and_no_one_elses(
    api_settings: Settings,
    fake_bybit: FakeBybit,
    one_api: httpx.Client,
    tokens: Tokens,
    forget_users: list[int],
) -> None:
    api = one_api
    alice, bob = (
        trader(api_settings, fake_bybit, api, forget_users),
        trader(api_settings, fake_bybit, api, forget_users),
    )
    for who in (alice, bob):
        place_elsewhere(fake_bybit, who.api_key, "linear", 3)
        place_elsewhere(fake_bybit, who.api_key, "spot", 2)
    assert (open_orders(fake_bybit, alice.api_key), open_orders(fake_bybit, bob.api_key)) == (5, 5)

    try:
        answer = halt(api, tokens, user_id=alice.user_id)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["created"] is True
        assert (body["halt"]["user_id"], body["halt"]["lifted_at"]) == (alice.user_id, None)
        swept = [(one["user_id"], one["outcome"], one["cancelled"]) for one in body["swept"]]
        assert swept == [(alice.user_id, "cancelled", 5)]
        assert wait_until(lambda: open_orders(fake_bybit, alice.api_key) == 0, PROMISE)
        assert open_orders(fake_bybit, bob.api_key) == 5  # untouched

        # Halting again is safe: the same halt, no new one.
        again = halt(api, tokens, user_id=alice.user_id)
        assert (again.status_code, again.json()["halt"]["id"]) == (200, body["halt"]["id"])

        # An order that reaches Bybit after the first sweep (sent just before the halt) is swept
        # once the in-flight deadline has passed.
        place_elsewhere(fake_bybit, alice.api_key, "linear", 1)
        assert wait_until(lambda: open_orders(fake_bybit, alice.api_key) == 0, 4 + PROMISE)
        assert open_orders(fake_bybit, bob.api_key) == 5
        assert [h["user_id"] for h in items(api, tokens, "/v1/trading/halts")] == [alice.user_id]
    finally:
        lifted = lift(api, tokens, user_id=alice.user_id)
    token_id = operator_token_id(api_settings, tokens)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["lifted_by"] == f"token:{token_id}"
    assert lift(api, tokens, user_id=alice.user_id).status_code == 404
    assert items(api, tokens, "/v1/trading/halts") == []

    # The trail: who (the operator token), from where, what; the sweeps by the service itself.
    trail = items(api, tokens, "/v1/audit", user_id=alice.user_id)
    assert [row["action"] for row in trail] == ["trading.lift", "trading.halt", "trading.halt"]
    for row in trail:
        assert (row["actor"], row["token_id"], row["address"]) == (f"token:{token_id}", token_id, "127.0.0.1")
    assert trail[-1]["details"] == {"target": f"user:{alice.user_id}", "reason": "tests", "created": True}
    sweeps = items(api, tokens, "/v1/audit", action="trading.sweep", limit=20)
    assert all(row["actor"] == "system" for row in sweeps)
    of_alice = [
        one for row in sweeps for one in row["details"]["credentials"] if one["user_id"] == alice.user_id
    ]
    assert len(of_alice) >= 3  # at each halt, and after the deadline


def test_halt_of_everyone_survives_a_restart_and_is_swept_again_at_start(
    api_settings: Settings,
    fake_bybit: FakeBybit,
    tokens: Tokens,
    forget_users: list[int],
) -> None:
    ours: set[int] = set()
    with served_apis(1, environment(api_settings)) as (first,), client(first) as api:
        alice, bob = (
            trader(api_settings, fake_bybit, api, forget_users),
            trader(api_settings, fake_bybit, api, forget_users),
        )
        ours = {alice.user_id, bob.user_id}
        place_elsewhere(fake_bybit, alice.api_key, "linear", 2)
        place_elsewhere(fake_bybit, bob.api_key, "spot", 2)
        answer = halt(api, tokens, all=True)
        assert answer.status_code == 201, answer.text
        assert answer.json()["halt"]["user_id"] is None
        swept = {(one["user_id"], one["outcome"], one["cancelled"]) for one in answer.json()["swept"]}
        assert {one for one in swept if one[0] in ours} == {
            (alice.user_id, "cancelled", 2),
            (bob.user_id, "cancelled", 2),
        }
        assert wait_until(
            lambda: open_orders(fake_bybit, alice.api_key) + open_orders(fake_bybit, bob.api_key) == 0,
            PROMISE,
        )
    try:
        # While no api runs, orders are placed elsewhere; the next process sweeps them at start.
        place_elsewhere(fake_bybit, bob.api_key, "linear", 3)
        with served_apis(1, environment(api_settings)) as (second,), client(second) as api:
            assert wait_until(lambda: open_orders(fake_bybit, bob.api_key) == 0, PROMISE)
            assert [h["user_id"] for h in items(api, tokens, "/v1/trading/halts")] == [None]
            lifted = lift(api, tokens, all=True)
            assert lifted.status_code == 200, lifted.text
            starts = items(api, tokens, "/v1/audit", action="trading.sweep")
            assert any(row["details"]["why"] == "api start" for row in starts)
    finally:
        with served_apis(1, environment(api_settings)) as (last,), client(last) as api:
            lift(api, tokens, all=True)  # whatever failed above, no halt of everyone is left


def api_admin(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = settings_environment(settings, API_SETTINGS, BYBIT_TIMEOUT=BYBIT_TIMEOUT, LOG_LEVEL="WARNING")
    command = [str(API_ADMIN), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_api_admin_halts_sweeps_reports_and_lifts(
    api_settings: Settings,
    fake_bybit: FakeBybit,
    one_api: httpx.Client,
    tokens: Tokens,
    forget_users: list[int],
) -> None:
    alice = trader(api_settings, fake_bybit, one_api, forget_users)
    email = email_of(api_settings, alice.user_id)
    place_elsewhere(fake_bybit, alice.api_key, "linear", 2)
    halted = api_admin(api_settings, "trading", "halt", "--user", email, "--reason", "card stolen")
    try:
        assert halted.returncode == 0, halted.stderr
        lines = halted.stdout.splitlines()
        assert lines[0].startswith("halted: halt ")
        assert "card stolen" in lines[0]
        assert any(line.startswith("sweep\t") and "\tcancelled\t2 cancelled" in line for line in lines)
        assert any(line.startswith("again\t") for line in lines)
        assert open_orders(fake_bybit, alice.api_key) == 0
        status = api_admin(api_settings, "trading", "status")
        assert f"of user {alice.user_id} " in status.stdout
        # The api process sees the same halt: it reads the same rows.
        assert alice.user_id in [h["user_id"] for h in items(one_api, tokens, "/v1/trading/halts")]
    finally:
        lifted = api_admin(api_settings, "trading", "lift", "--user", email, "--reason", "card blocked")
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout.startswith("lifted: ")
    assert api_admin(api_settings, "trading", "lift", "--user", email).returncode == 1
    assert "no halt in force" in api_admin(api_settings, "trading", "status").stdout

    trail = items(one_api, tokens, "/v1/audit", user_id=alice.user_id)
    assert [row["action"] for row in trail] == ["trading.lift", "trading.halt"]
    for row in trail:
        assert row["actor"].startswith("api-admin:")
        assert row["token_id"] is None
        assert row["address"].startswith("host:")

"""Helpers for tests and benchmarks of the order routes: settings for an api trading with the fake
exchange, the fake's instruments synced into the general database (as the worker does), traders
(a user, a token and a stored Bybit key of an account of their own at the fake), and placing with
retries that honour ``Retry-After``.
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete

from api_service.tokens import hash_token, new_token
from bybit_client import AsyncBybitClient, Category, Network
from bybit_client.testing import FakeBybit
from core_config import Settings
from db_core import Database
from db_general import GENERAL_DB, upsert_instruments
from db_user import USER_DB, TokenScope, User, add_api_token, create_user, generate_key_file
from worker_service.syncing import instrument_row

ORDER_CATEGORIES = (Category.LINEAR, Category.SPOT)
TRADER_EMAIL = "trader-"


def order_settings(base: Settings, fake: FakeBybit, folder: Path, **extra: Any) -> Settings:
    """``base`` trading with ``fake``: a master key file of its own, rate limits of its own no test
    reaches, a short send deadline (the fake holds a faulty answer longer), ``extra`` on top."""
    key_file = folder / "master.key"
    if not key_file.exists():
        generate_key_file(key_file)
    return base.model_copy(
        update={
            "bybit_network": Network(fake.network),
            "bybit_api_url": fake.base_url,
            "render_master_key_path": key_file,
            "celery_queue": f"test-orders-{uuid.uuid4().hex[:8]}",
            "rate_limit_key_prefix": f"test-ratelimit-{uuid.uuid4().hex[:8]}",
            "bybit_budget_prefix": f"test-budget-{uuid.uuid4().hex[:8]}",
            "rate_limit_per_address": "1000000/minute",
            "rate_limit_account": "1000000/minute",
            "rate_limit_credential_writes": "1000000/minute",
            "rate_limit_operator": "1000000/minute",
            "order_send_timeout": 0.5,
            **extra,
        }
    )


async def sync_instruments(settings: Settings, fake: FakeBybit) -> None:
    """The fake's instruments of the order categories written to the general database with the
    worker's own row mapping and upsert (what a sync does)."""
    async with AsyncBybitClient(fake.base_url) as client:
        rows = [
            instrument_row(instrument)
            for category in ORDER_CATEGORIES
            async for instrument in client.iter_instruments(category)
        ]
    database = Database(GENERAL_DB, settings, application_name="tests")
    try:
        with database.sync_session() as session:
            upsert_instruments(session, rows, datetime.now(UTC))
    finally:
        database.dispose_sync()


@dataclass(frozen=True)
class Trader:
    """A user with a token, and a Bybit key (of an account of its own at the fake) stored through the
    api."""

    user_id: int
    token: str
    api_key: str
    credential_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def order(self, **fields: Any) -> dict[str, Any]:
        """An order body on this trader's key: a small linear limit buy under the fake's price of
        BTCUSDT (about 12.9): it rests."""
        body: dict[str, Any] = {
            "credential_id": self.credential_id,
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "order_type": "Limit",
            "qty": "1",
            "price": "10",
            "time_in_force": "GTC",
        }
        return body | fields


async def new_traders(
    settings: Settings, api: httpx.AsyncClient, fake: FakeBybit, count: int, **key_options: Any
) -> list[Trader]:
    """``count`` users, each with a user token and a key of its own account at the fake, stored
    through ``PUT /v1/me/bybit-credentials``."""
    database = Database(USER_DB, settings, application_name="tests")
    tokens: list[tuple[int, str]] = []
    try:
        async with database.session() as session:
            for _ in range(count):
                user = await create_user(session, f"{TRADER_EMAIL}{uuid.uuid4().hex[:10]}@example.com")
                token = new_token()
                await add_api_token(
                    session,
                    user_id=user.id,
                    name="trader",
                    token_hash=hash_token(token),
                    scope=TokenScope.USER,
                )
                tokens.append((user.id, token))
    finally:
        await database.dispose()
    traders = []
    for user_id, token in tokens:
        api_key, secret = f"T{uuid.uuid4().hex[:15].upper()}", uuid.uuid4().hex
        fake.add_key(api_key, secret, **key_options)
        stored = await api.put(
            "/v1/me/bybit-credentials",
            json={"api_key": api_key, "api_secret": secret},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert stored.status_code == 200, stored.text
        traders.append(Trader(user_id, token, api_key, stored.json()["id"]))
    return traders


async def place(
    api: httpx.AsyncClient,
    trader: Trader,
    key: str,
    body: dict[str, Any],
    *,
    give_up_after: float = 60.0,
) -> httpx.Response:
    """``POST /v1/me/orders`` under ``key``, sent again after each 429 once its ``Retry-After`` passed
    (as a well-behaved caller does); the first other answer."""
    deadline = asyncio.get_running_loop().time() + give_up_after
    while True:
        response = await api.post("/v1/me/orders", json=body, headers={**trader.auth, "Idempotency-Key": key})
        if response.status_code != 429 or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


async def forget_traders(settings: Settings) -> None:
    """Delete every trader ``new_traders`` made (their keys, orders and trails go with them): their
    keys are sealed under a master key of the test's own, which other tests sharing the database
    (readiness, rotation) must not meet."""
    database = Database(USER_DB, settings, application_name="tests")
    try:
        async with database.session() as session:
            await session.execute(delete(User).where(User.email.like(f"{TRADER_EMAIL}%")))
    finally:
        await database.dispose()


def per_second_peaks(fake: FakeBybit, path: str) -> dict[str, int]:
    """For each key, the most requests to ``path`` the fake received in any rolling second."""
    times: dict[str, list[int]] = {}
    for request in fake.sent(path):
        if request.api_key is not None:
            times.setdefault(request.api_key, []).append(request.at_ms)
    peaks = {}
    for api_key, stamps in times.items():
        stamps.sort()
        peak, start = 0, 0
        for end, stamp in enumerate(stamps):
            while stamps[start] <= stamp - 1000:
                start += 1
            peak = max(peak, end - start + 1)
        peaks[api_key] = peak
    return peaks


def decimal_text(value: Decimal) -> str:
    return format(value, "f")

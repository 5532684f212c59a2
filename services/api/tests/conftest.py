"""Fixtures for the API's tests: the app on real databases and Redis, reached through ASGI."""

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from local_stack.ports import free_port
from pydantic import SecretStr
from sqlalchemy import create_engine, delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from test_support.canary import watch
from test_support.environment import API_SETTINGS, settings_environment
from test_support.tokens import Tokens, issue_tokens

from api_service import create_app, serve_app
from api_service.dependencies import general_database as general_database_dependency
from api_service.dependencies import user_session as user_session_dependency
from api_service.tokens import hash_token, new_token
from bybit_client import Network, OrderRequest
from bybit_client.testing import FakeBybit
from core_config import Settings
from db_user import (
    BybitCredential,
    CredentialContext,
    User,
    Vault,
    add_api_token,
    create_user,
    generate_key_file,
    load_master_keys,
)

ClientFor = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]
API_SERVE = os.path.join(os.path.dirname(sys.executable), "api-serve")


@pytest.fixture(scope="session")
def api_settings(
    test_settings: Settings, fake_bybit_server: FakeBybit, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The test settings, with a master key file of this run's own (mode 0600) and Bybit played by
    the fake exchange on the configured network."""
    key_file = tmp_path_factory.mktemp("secrets") / "master.key"
    generate_key_file(key_file)
    for key in load_master_keys(key_file, strict_permissions=False).keys.values():
        watch(key.material.hex(), base64.b64encode(key.material).decode().rstrip("="))
        watch(base64.urlsafe_b64encode(key.material).decode().rstrip("="))
    return test_settings.model_copy(
        update={
            "bybit_network": Network(fake_bybit_server.network),
            "render_master_key_path": key_file,
            "celery_queue": f"test-api-{uuid.uuid4().hex[:8]}",
            "health_check_timeout": 1.0,
            "bybit_api_url": fake_bybit_server.base_url,
            # This run's own counters, with limits no ordinary test reaches (the limits' own tests
            # set theirs).
            "rate_limit_key_prefix": f"test-ratelimit-{uuid.uuid4().hex[:8]}",
            "rate_limit_per_address": "100000/minute",
            "rate_limit_account": "100000/minute",
            "rate_limit_credential_writes": "100000/minute",
            "rate_limit_operator": "100000/minute",
            # No worker runs here, so requested syncs stay pending: room for every test's.
            "sync_max_pending": 64,
        }
    )


SealCredential = Callable[[Vault, int, str, str], BybitCredential]


def _seal_credential(vault: Vault, user_id: int, api_key: str, secret: str) -> BybitCredential:
    context = CredentialContext(user_id, "testnet", api_key)
    sealed = vault.encrypt(SecretStr(secret), context)
    return BybitCredential(
        user_id=user_id,
        network="testnet",
        api_key=api_key,
        secret_ciphertext=sealed.ciphertext,
        key_id=sealed.key_id,
        read_only=True,
        permissions={},
    )


@pytest.fixture
def seal_credential() -> SealCredential:
    """A testnet credential row for ``user_id`` with ``secret`` sealed by ``vault`` (not added)."""
    return _seal_credential


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def tokens(api_settings: Settings) -> Tokens:
    return await issue_tokens(api_settings)


class RolledBackReads:
    """Stands in for the general database: every read runs on the test's own connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncConnection]:
        yield self._connection


@asynccontextmanager
async def client_for_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=serve_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client


@pytest.fixture
def client_for() -> ClientFor:
    """``async with client_for(settings) as client``: a fresh app built from other settings."""
    return lambda settings: client_for_app(create_app(settings))


@pytest_asyncio.fixture(loop_scope="session")
async def app(api_settings: Settings) -> FastAPI:
    return create_app(api_settings)


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API with its real resources; what routes write is committed."""
    async with client_for_app(app) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def rolled_back_client(
    app: FastAPI, general_connection: AsyncConnection, user_session: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    """The API whose database connection and session are the test's own, rolled back after the test."""
    app.dependency_overrides[general_database_dependency] = lambda: RolledBackReads(general_connection)
    app.dependency_overrides[user_session_dependency] = lambda: user_session
    async with client_for_app(app) as client:
        yield client


@dataclass
class SignedIn:
    """A new user with a user token, on ``rolled_back_client`` (its writes rolled back after the test)."""

    client: httpx.AsyncClient
    token: str
    token_id: int
    user_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_in(client: httpx.AsyncClient, session: AsyncSession) -> SignedIn:
    user = await create_user(session, f"trader-{uuid.uuid4().hex[:8]}@example.com")
    token = new_token()
    stored = await add_api_token(session, user_id=user.id, name="tests", token_hash=hash_token(token))
    return SignedIn(client, token, stored.id, user.id)


@pytest.fixture
async def signed_in(rolled_back_client: httpx.AsyncClient, user_session: AsyncSession) -> SignedIn:
    return await sign_in(rolled_back_client, user_session)


@dataclass
class ServedApi:
    """An ``api-serve`` process on a port of its own."""

    process: subprocess.Popen[str]
    base_url: str

    @property
    def pid(self) -> int:
        return self.process.pid


def api_environment(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    """The environment of an ``api-serve`` process on ``settings``' databases, Redis and fake Bybit."""
    quiet = {"ENVIRONMENT": "test", "LOG_LEVEL": "WARNING", "PORT": str(port)}
    return settings_environment(settings, API_SETTINGS, **(quiet | extra))


@contextmanager
def served_apis(count: int, environment: Callable[[int], Mapping[str, str]]) -> Iterator[list[ServedApi]]:
    """``count`` api-serve processes started together, each with ``environment(port)``; killed after."""
    started: list[ServedApi] = []
    try:
        for _ in range(count):
            port = free_port()
            process = subprocess.Popen(
                [API_SERVE],
                env=dict(environment(port)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            started.append(ServedApi(process, f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 60
        for api in started:
            while True:
                try:
                    httpx.get(f"{api.base_url}/health/live", timeout=1)
                    break
                except httpx.TransportError:
                    assert api.process.poll() is None, api.process.communicate()[0]
                    assert time.monotonic() < deadline, "api-serve did not start"
                    time.sleep(0.1)
        yield started
    finally:
        for api in started:
            if api.process.poll() is None:
                api.process.kill()
            api.process.communicate()


# What Bybit counts as open (an order the kill switch must cancel).
OPEN = ("New", "PartiallyFilled", "Untriggered")


def open_orders(fake: FakeBybit, api_key: str) -> int:
    return sum(1 for order in fake.orders(api_key) if order["orderStatus"] in OPEN)


def place_elsewhere(fake: FakeBybit, api_key: str, category: str, count: int) -> None:
    """``count`` resting limit buys of BTCUSDT for the trader's account, below the market."""
    row = next(r for r in fake.instruments[category] if r["symbol"] == "BTCUSDT")
    lot, tick = row["lotSizeFilter"], Decimal(row["priceFilter"]["tickSize"])
    step = Decimal(lot.get("qtyStep") or lot["basePrecision"])
    price = fake.price("BTCUSDT", category=category) - 20 * tick
    notional = Decimal(lot.get("minNotionalValue") or lot.get("minOrderAmt") or "0")
    qty = max(Decimal(lot["minOrderQty"]), (notional * 2 / price / step).to_integral_value(ROUND_UP) * step)
    for _ in range(count):
        order = OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=qty, price=price)
        fake.place_order(api_key, category, order)


@pytest.fixture
def forget_users(api_settings: Settings) -> Iterator[list[int]]:
    """The ids of users a test commits: deleted after it with all that is theirs (credentials,
    tokens, halts), so that no credential under this run's master key outlives the test (rotation
    and readiness tests read every stored credential)."""
    ids: list[int] = []
    yield ids
    if ids:
        engine = create_engine(api_settings.database_url_user.get_secret_value())
        try:
            with engine.begin() as connection:
                connection.execute(delete(User).where(User.id.in_(ids)))
        finally:
            engine.dispose()

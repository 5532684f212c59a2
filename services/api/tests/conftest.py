"""Fixtures for the API's tests: the app on real databases and Redis, reached through ASGI."""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from api_service import create_app, serve_app
from api_service.dependencies import general_database as general_database_dependency
from api_service.dependencies import user_session as user_session_dependency
from bybit_client import Network
from bybit_client.testing import FakeBybit
from core_config import Settings
from db_core import ReadConnection
from db_user import generate_key_file

ClientFor = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(scope="session")
def api_settings(
    test_settings: Settings, fake_bybit_server: FakeBybit, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The test settings, with a master key file of this run's own (mode 0600) and Bybit played by
    the fake exchange on the configured network."""
    key_file = tmp_path_factory.mktemp("secrets") / "master.key"
    generate_key_file(key_file)
    return test_settings.model_copy(
        update={
            "bybit_network": Network(fake_bybit_server.network),
            "render_master_key_path": key_file,
            "celery_queue": f"test-api-{uuid.uuid4().hex[:8]}",
            "health_check_timeout": 1.0,
            "bybit_api_url": fake_bybit_server.base_url,
        }
    )


class RolledBackReads:
    """Stands in for the general database's read pool: every read runs on the test's own connection."""

    def __init__(self, connection: ReadConnection) -> None:
        self._connection = connection

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[ReadConnection]:
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
    app: FastAPI, general_connection: ReadConnection, user_session: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    """The API whose database connection and session are the test's own, rolled back after the test."""
    app.dependency_overrides[general_database_dependency] = lambda: RolledBackReads(general_connection)
    app.dependency_overrides[user_session_dependency] = lambda: user_session
    async with client_for_app(app) as client:
        yield client

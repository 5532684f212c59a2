"""Session factories and scopes, and ``Database``: a database's engines made once per process.

A scope commits when its block succeeds and rolls back when it raises. A process that only reads
a database holds a ``ReadPool`` for it instead (``db_core.reads``): one pool per database per
process.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager

import sqlalchemy.exc
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from core_config import Settings, get_settings
from db_core.engines import (
    create_async_database_engine,
    create_sync_database_engine,
    means_unavailable,
    unavailable,
)
from db_core.pool_stats import PoolStats, engine_pool_stats
from db_core.spec import DatabaseSpec


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without a lazy (async-unsafe) load.
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def async_session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` committed on success, rolled back on error, always closed."""
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A sync ``Session`` committed on success, rolled back on error, always closed."""
    with factory() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


class Database:
    """The engines and sessions of one database in this process, created on first use.

    Call ``dispose()`` (or ``dispose_sync()`` outside an event loop) at shutdown to close pooled
    connections.
    """

    def __init__(
        self,
        spec: DatabaseSpec,
        settings: Callable[[], Settings] = get_settings,
        application_name: str | None = None,
    ) -> None:
        self.spec = spec
        self._settings = settings
        self._application_name = application_name
        self._async_engine: AsyncEngine | None = None
        self._sync_engine: Engine | None = None
        self._async_factory: async_sessionmaker[AsyncSession] | None = None
        self._sync_factory: sessionmaker[Session] | None = None

    def async_engine(self) -> AsyncEngine:
        if self._async_engine is None:
            self._async_engine = create_async_database_engine(
                self.spec, self._settings(), application_name=self._application_name
            )
        return self._async_engine

    def sync_engine(self) -> Engine:
        if self._sync_engine is None:
            self._sync_engine = create_sync_database_engine(
                self.spec, self._settings(), application_name=self._application_name
            )
        return self._sync_engine

    def async_sessions(self) -> async_sessionmaker[AsyncSession]:
        if self._async_factory is None:
            self._async_factory = async_session_factory(self.async_engine())
        return self._async_factory

    def sync_sessions(self) -> sessionmaker[Session]:
        if self._sync_factory is None:
            self._sync_factory = sync_session_factory(self.sync_engine())
        return self._sync_factory

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """``async with db.session() as session:`` commits on success, rolls back on error; a
        database that does not answer (``means_unavailable``) raises ``DatabaseUnavailableError``."""
        engine, sessions = self.async_engine(), self.async_sessions()
        try:
            async with async_session_scope(sessions) as session:
                yield session
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
            if not means_unavailable(exc):
                raise
            raise unavailable(self.spec, engine.url.render_as_string(hide_password=True), exc) from exc

    def pool_stats(self) -> list[PoolStats]:
        """The usage of the engine pools this process opened to the database (none before first use)."""
        engines = [self._async_engine.sync_engine] if self._async_engine is not None else []
        if self._sync_engine is not None:
            engines.append(self._sync_engine)
        return [engine_pool_stats(self.spec.name, engine) for engine in engines]

    def sync_session(self) -> AbstractContextManager[Session]:
        """``with db.sync_session() as session:`` commits on success, rolls back on error."""
        return session_scope(self.sync_sessions())

    async def dispose(self) -> None:
        """Close every pooled connection (both engines); the next use starts afresh."""
        # Forgotten before it closes, so that a use meanwhile starts afresh instead of meeting it.
        async_engine = self._async_engine
        self._async_engine, self._async_factory = None, None
        try:
            if async_engine is not None:
                await async_engine.dispose()
        finally:
            self.dispose_sync()

    def dispose_sync(self) -> None:
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        self._sync_engine, self._sync_factory = None, None

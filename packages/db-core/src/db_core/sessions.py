"""Session factories and scopes, and ``Database``: one database's engines in this process.

A process holds one ``Database`` per database it uses, so one pool per database: reads,
sessions and readiness all go through it. A scope commits when its block succeeds and rolls back
when it raises; a read connection runs in autocommit, each statement in its own snapshot.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager

import sqlalchemy.exc
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from core_config import Settings
from db_core.engines import (
    create_async_database_engine,
    create_sync_database_engine,
    means_unavailable,
    unavailable,
)
from db_core.errors import DatabaseUnavailableError
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

    ``Database(spec, settings)``: the settings give the URL and the pool's sizes and timeouts.
    ``read_only=True``, for a process that only reads the database (the API and the general
    database): its pool's connections all run in autocommit and the server refuses writes on
    them; ``reads()`` then has nothing to switch, which saves about a tenth of an instruments
    listing's CPU. Call ``dispose()`` (or ``dispose_sync()`` outside an event loop) at shutdown to
    close pooled connections.
    """

    def __init__(
        self,
        spec: DatabaseSpec,
        settings: Settings,
        *,
        application_name: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.read_only = read_only
        self._application_name = application_name
        self._async_engine: AsyncEngine | None = None
        self._read_engine: AsyncEngine | None = None
        self._sync_engine: Engine | None = None
        self._async_factory: async_sessionmaker[AsyncSession] | None = None
        self._sync_factory: sessionmaker[Session] | None = None

    def async_engine(self) -> AsyncEngine:
        if self._async_engine is None:
            self._async_engine = create_async_database_engine(
                self.spec, self.settings, application_name=self._application_name, read_only=self.read_only
            )
        return self._async_engine

    def sync_engine(self) -> Engine:
        if self._sync_engine is None:
            self._sync_engine = create_sync_database_engine(
                self.spec, self.settings, application_name=self._application_name, read_only=self.read_only
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

    def _reads_engine(self) -> AsyncEngine:
        if self._read_engine is None:
            # Read-write: a copy of the async engine that shares its pool (SQLAlchemy's
            # execution_options), whose connections are switched to autocommit at checkout and
            # back at checkin. Read-only: the engine itself, all autocommit.
            engine = self.async_engine()
            self._read_engine = (
                engine if self.read_only else engine.execution_options(isolation_level="AUTOCOMMIT")
            )
        return self._read_engine

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncConnection]:
        """``async with db.reads() as connection:`` a connection of the async engine's pool in
        autocommit, for read-only statements: no BEGIN or ROLLBACK around them, so a query is one
        round trip, each statement in its own snapshot. A database that does not answer
        (``means_unavailable``) raises ``DatabaseUnavailableError``."""
        try:
            async with self._reads_engine().connect() as connection:
                yield connection
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
            if not means_unavailable(exc):
                raise
            raise self._unavailable(exc) from exc

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """``async with db.session() as session:`` commits on success, rolls back on error; a
        database that does not answer (``means_unavailable``) raises ``DatabaseUnavailableError``."""
        sessions = self.async_sessions()
        try:
            async with async_session_scope(sessions) as session:
                yield session
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
            if not means_unavailable(exc):
                raise
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailableError:
        return unavailable(self.spec, self.async_engine().url.render_as_string(hide_password=True), exc)

    def pool_stats(self) -> list[PoolStats]:
        """The usage of the engine pools this process opened to the database (none before first use)."""
        engines = [self._async_engine.sync_engine] if self._async_engine is not None else []
        if self._sync_engine is not None:
            engines.append(self._sync_engine)
        limit = self.settings.db_pool_size + self.settings.db_max_overflow
        return [engine_pool_stats(self.spec.name, engine, limit) for engine in engines]

    def sync_session(self) -> AbstractContextManager[Session]:
        """``with db.sync_session() as session:`` commits on success, rolls back on error."""
        return session_scope(self.sync_sessions())

    async def dispose(self) -> None:
        """Close every pooled connection (both engines); the next use starts afresh."""
        # Forgotten before it closes, so that a use meanwhile starts afresh instead of meeting it.
        async_engine = self._async_engine
        self._async_engine, self._read_engine, self._async_factory = None, None, None
        try:
            if async_engine is not None:
                await async_engine.dispose()
        finally:
            self.dispose_sync()

    def dispose_sync(self) -> None:
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        self._sync_engine, self._sync_factory = None, None

"""Hot reads: a psycopg pool in autocommit for the read-only queries a route runs on every request.

For a one-query read, SQLAlchemy's layers (the pool's checkout and its events, statement building
and caching, result processing, the session's transaction, a greenlet hop per call) cost more
than the query itself. Such reads are written as fixed SQL text and run here on plain psycopg
connections, each statement in its own snapshot with no BEGIN and COMMIT round trips around it.
The connections take the engine's settings: pool sizes and timeouts, UTC, statement timeout,
connect timeout, ``application_name``, and the ping of connections that sat idle.
"""

import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, LiteralString
from weakref import WeakKeyDictionary

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core_config import Settings, libpq_url
from db_core.engines import PING_AFTER_IDLE_SECONDS, connect_args, default_application_name, unavailable
from db_core.spec import DatabaseSpec

ReadConnection = psycopg.AsyncConnection[tuple[Any, ...]]


class ReadPool:
    """Pooled autocommit connections to one database; opened on first use, closed by ``close``."""

    def __init__(
        self,
        spec: DatabaseSpec,
        settings: Settings,
        *,
        url: str | None = None,
        application_name: str | None = None,
        ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
    ) -> None:
        self.spec = spec
        self.url = url or spec.url(settings)
        self._ping_after_idle_seconds = ping_after_idle_seconds
        self._returned_at: WeakKeyDictionary[ReadConnection, float] = WeakKeyDictionary()
        self.pool = AsyncConnectionPool(
            libpq_url(self.url),
            kwargs={
                **connect_args(settings, application_name or default_application_name(spec)),
                "autocommit": True,
            },
            # Opened as needed, like the engine's pool, and never more than it would open.
            min_size=0,
            max_size=settings.db_pool_size + settings.db_max_overflow,
            timeout=settings.db_pool_timeout,
            max_lifetime=settings.db_pool_recycle if settings.db_pool_recycle > 0 else 365 * 86400.0,
            check=self._ping_if_idle,
            name=f"{spec.name}-reads",
            open=False,
        )

    async def _ping_if_idle(self, connection: ReadConnection) -> None:
        # A connection used a moment ago is handed out as it is; one that sat idle may have been
        # closed on the way (a server restart, an idle timeout) and is pinged. A failed ping makes
        # the pool discard it and hand out another.
        returned_at = self._returned_at.get(connection)
        if returned_at is not None and time.monotonic() - returned_at >= self._ping_after_idle_seconds:
            await connection.execute("SELECT 1")

    def note_return(self, connection: ReadConnection) -> None:
        self._returned_at[connection] = time.monotonic()

    def connection(self) -> AbstractAsyncContextManager[ReadConnection]:
        """A connection for read-only statements; ``DatabaseUnavailableError`` when the database
        does not answer (refused, unreachable, or no connection within the pool timeout)."""
        return _Checkout(self)

    async def close(self) -> None:
        await self.pool.close()


class _Checkout(AbstractAsyncContextManager[ReadConnection]):
    # A class rather than an @asynccontextmanager generator: a route enters one per request. No
    # commit or rollback on the way out: an autocommit connection holds no transaction.
    __slots__ = ("_connection", "_reads")

    def __init__(self, reads: ReadPool) -> None:
        self._reads = reads

    async def __aenter__(self) -> ReadConnection:
        pool = self._reads.pool
        try:
            if pool.closed:
                await pool.open()
            self._connection: ReadConnection = await pool.getconn()
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise unavailable(self._reads.spec, self._reads.url, exc) from exc
        return self._connection

    async def __aexit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self._reads.note_return(self._connection)
        await self._reads.pool.putconn(self._connection)  # a broken connection is replaced there
        if isinstance(exc, psycopg.OperationalError):
            raise unavailable(self._reads.spec, self._reads.url, exc) from exc


async def fetch_rows(
    connection: ReadConnection, sql: LiteralString, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Every row ``sql`` returns, as tuples in column order (``%(name)s`` placeholders)."""
    async with connection.cursor() as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()

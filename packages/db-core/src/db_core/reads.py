"""``ReadPool``: a psycopg pool of autocommit connections, for a process that only reads a database.

A process that only reads a database (the API and the general database) holds this pool and no
engine for it: its repository functions run fixed SQL on these connections, each statement in
its own snapshot. The connections take the engines' settings: pool sizes and timeouts, UTC,
statement timeout, connect timeout, ``application_name``, and the ping of connections that sat
idle. A process that writes a database holds that database's engine instead (``Database``).

A database that does not answer is reported at once rather than after the pool timeout: while
the pool holds no connection at all, a checkout gives up as soon as connecting has failed since
the last checkout that succeeded; and once a checkout has failed, later ones wait at most
``WAIT_WHILE_FAILING_SECONDS`` until one succeeds.
"""

import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, LiteralString
from weakref import WeakKeyDictionary

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Column, Numeric

from core_config import Settings, libpq_url
from db_core.engines import (
    PING_AFTER_IDLE_SECONDS,
    connect_args,
    default_application_name,
    means_unavailable,
    unavailable,
)
from db_core.errors import DatabaseUnavailableError
from db_core.pool_stats import PoolStats
from db_core.spec import DatabaseSpec

ReadConnection = psycopg.AsyncConnection[tuple[Any, ...]]
WAIT_WHILE_FAILING_SECONDS = 1.0
# How often a checkout waiting on an empty pool looks whether connecting failed meanwhile.
EMPTY_POOL_LOOK_SECONDS = 0.05


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
        self._failing = False
        self._connect_errors = 0  # the pool's count of failed connects, when last looked at
        self._errors_at_success = 0  # that count at the last checkout that succeeded
        self._in_use = 0
        self._closed = False
        self.pool = AsyncConnectionPool(
            libpq_url(self.url),
            kwargs={
                **connect_args(settings, application_name or default_application_name(spec)),
                "autocommit": True,
            },
            # Opened as needed, like the engine's pool, up to the same size.
            min_size=0,
            max_size=settings.db_pool_size + settings.db_max_overflow,
            timeout=settings.db_pool_timeout,
            max_lifetime=settings.db_pool_recycle if settings.db_pool_recycle > 0 else 365 * 86400.0,
            # Failed connects are retried in the background with growing pauses; give up within the
            # pool timeout, so the next checkout after an outage tries again at once.
            reconnect_timeout=settings.db_pool_timeout,
            name=f"{spec.name}-reads",
            open=False,
        )

    def connection(self) -> AbstractAsyncContextManager[ReadConnection]:
        """A connection for read-only statements; ``DatabaseUnavailableError`` when the database
        does not answer (refused, unreachable, no connection within the wait, the connection lost,
        or a statement past the statement timeout)."""
        return _Checkout(self)

    async def checkout(self) -> ReadConnection:
        if self._closed:
            raise RuntimeError(f"the {self.spec.name} read pool is closed")
        pool = self.pool
        wait = min(pool.timeout, WAIT_WHILE_FAILING_SECONDS) if self._failing else pool.timeout
        try:
            if pool.closed:
                await pool.open()
            deadline = time.monotonic() + wait
            connection = await self._getconn(wait, deadline)
            if self._sat_idle(connection):
                connection = await self._live_connection(connection, deadline)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            # An outage when connecting failed meanwhile; a pool merely busy is not one.
            connect_errors = self._failed_connects()
            self._failing = connect_errors > self._connect_errors
            self._connect_errors = connect_errors
            raise unavailable(self.spec, self.url, exc) from exc
        self._failing = False
        self._errors_at_success = self._failed_connects()
        self._in_use += 1
        return connection

    async def _getconn(self, wait: float, deadline: float) -> ReadConnection:
        """A connection from the pool within ``wait`` seconds (by ``deadline``).

        While no connection is idle or in use (the pool's start, an outage), only a new connection
        can end the wait: it is then watched in short steps and given up as soon as connecting has
        failed since the last checkout that succeeded, so a server that refuses is reported at once.
        """
        pool = self.pool
        while self._in_use == 0 and pool.get_stats().get("pool_available", 0) == 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                return await pool.getconn(min(remaining, EMPTY_POOL_LOOK_SECONDS))
            except PoolTimeout:
                if self._failed_connects() > self._errors_at_success:
                    raise PoolTimeout(
                        f"connecting to the server failed (see the {pool.name} pool's log)"
                    ) from None
        try:
            return await pool.getconn(max(deadline - time.monotonic(), 0.0))
        except PoolTimeout:
            raise PoolTimeout(f"couldn't get a connection after {wait:.2f} sec") from None

    def _failed_connects(self) -> int:
        return int(self.pool.get_stats().get("connections_errors", 0))

    async def _live_connection(self, connection: ReadConnection, deadline: float) -> ReadConnection:
        """``connection``, which sat idle, once a ping shows it alive; else the next live one. A dead
        one goes back to the pool, which replaces it: after a server restart every idle connection
        is dead, and each is found in a moment (a refused ping), with no pause between."""
        pool = self.pool
        for _ in range(pool.max_size + 1):
            try:
                await connection.execute("SELECT 1")
            except psycopg.Error:
                await pool.putconn(connection)
            except BaseException:  # cancelled mid-ping: the connection goes back all the same
                await pool.putconn(connection)
                raise
            else:
                return connection
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            connection = await pool.getconn(remaining)
            if not self._sat_idle(connection):
                return connection
        raise PoolTimeout(f"no live connection from {pool.name} in time")

    async def checkin(self, connection: ReadConnection) -> None:
        self._in_use -= 1
        self._returned_at[connection] = time.monotonic()
        await self.pool.putconn(connection)  # a broken connection is replaced there

    def lost(self, connection: ReadConnection, exc: BaseException) -> DatabaseUnavailableError | None:
        """The error to raise for ``exc`` raised while ``connection`` was in use, when it means the
        database did not answer (``means_unavailable``); None for any other error."""
        if connection.broken:
            self._failing = True
        return unavailable(self.spec, self.url, exc) if means_unavailable(exc) else None

    def _sat_idle(self, connection: ReadConnection) -> bool:
        returned_at = self._returned_at.get(connection)
        return returned_at is not None and time.monotonic() - returned_at >= self._ping_after_idle_seconds

    async def stored_revisions(self) -> tuple[str, ...]:
        """The revision(s) in the database's Alembic version table (empty before the first upgrade)."""
        query = sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(self.spec.version_table))
        try:
            async with self.connection() as connection:
                rows = await fetch_rows(connection, query, {})
        except psycopg.errors.UndefinedTable:
            return ()
        return tuple(sorted(revision for (revision,) in rows))

    def stats(self) -> PoolStats:
        """The pool's usage, for the db.client.connection.* gauges."""
        counts = self.pool.get_stats()
        size, idle = counts.get("pool_size", 0), counts.get("pool_available", 0)
        waiting = counts.get("requests_waiting", 0)
        return PoolStats(self.spec.name, size - idle, idle, waiting, self.pool.max_size)

    async def close(self) -> None:
        self._closed = True
        await self.pool.close()


class _Checkout(AbstractAsyncContextManager[ReadConnection]):
    # A class rather than an @asynccontextmanager generator: a route enters one per request. No
    # commit or rollback on the way out: an autocommit connection holds no transaction.
    __slots__ = ("_connection", "_reads")

    def __init__(self, reads: ReadPool) -> None:
        self._reads = reads

    async def __aenter__(self) -> ReadConnection:
        self._connection = await self._reads.checkout()
        return self._connection

    async def __aexit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        await self._reads.checkin(self._connection)
        if exc is not None:
            lost = self._reads.lost(self._connection, exc)
            if lost is not None:
                raise lost from exc


def select_list(columns: Iterable[Column[Any]]) -> str:
    """``columns`` as a select list, ``numeric`` ones as their exact text.

    PostgreSQL writes a numeric as plain digits (never an exponent) with its stored scale, which
    is the JSON string the API answers with: no ``Decimal`` is made per value only to be written
    out as text again.
    """
    return ", ".join(f"{c.name}::text" if isinstance(c.type, Numeric) else c.name for c in columns)


async def fetch_rows(
    connection: ReadConnection, query: LiteralString | sql.Composed, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Every row ``query`` returns, as tuples in column order (``%(name)s`` placeholders)."""
    async with connection.cursor() as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()

"""Engine factories: one async (psycopg 3 async) and one sync engine per database and settings.

Pool size, overflow, pool timeout, recycle, connect timeout, statement timeout and the
``application_name`` shown in ``pg_stat_activity`` all come from the settings; every session runs
in UTC. Connections idle for a few seconds are pinged before reuse (``ping_idle_connections``).
"""

import sys
import time
from pathlib import Path
from typing import Any, TypedDict, Unpack

import psycopg
import sqlalchemy.exc
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from core_config import Settings, database_name, mask_password
from db_core.errors import DatabaseUnavailableError
from db_core.spec import DatabaseSpec

_MAX_APPLICATION_NAME = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1)
PING_AFTER_IDLE_SECONDS = 5.0
_CHECKED_IN_AT = "db_core_checked_in_at"


def default_application_name(spec: DatabaseSpec) -> str:
    """``<program>:<database>``, e.g. ``api-serve:general``, so a DBA can tell connections apart."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{program}:{spec.name}"[:_MAX_APPLICATION_NAME]


def connect_args(settings: Settings, application_name: str, *, read_only: bool = False) -> dict[str, Any]:
    """psycopg connection parameters shared by the async and sync engines; ``read_only``: the
    server refuses every write on the connection."""
    # Sessions in UTC whatever the server's default: timestamptz values come back as UTC datetimes,
    # which serialise straight to ISO 8601 ``Z`` times without a conversion per value.
    options = ["-c TimeZone=UTC"]
    if settings.db_statement_timeout_ms:
        options.append(f"-c statement_timeout={settings.db_statement_timeout_ms}")
    if read_only:
        options.append("-c default_transaction_read_only=on")
    return {
        "connect_timeout": settings.db_connect_timeout,
        "application_name": application_name[:_MAX_APPLICATION_NAME],
        "options": " ".join(options),
        # A server cut off by the network is found out rather than waited on for ever: data it
        # does not acknowledge within the connect timeout, or keepalives unanswered for a minute,
        # close the connection, and the pool replaces it.
        "tcp_user_timeout": settings.db_connect_timeout * 1000,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }


def ping_idle_connections(engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a pooled connection at checkout only when it sat idle for ``idle_seconds`` or more
    (SQLAlchemy's documented pool events, ``checkin`` and ``checkout``).

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: one more round trip per request (an
    instruments listing in process, 32 at once: 562 us of CPU with it, 499 us with these events).
    Connections go stale while idle (a server restart, an idle timeout on the way), so those are
    pinged; one used a moment ago is not. A dead one is replaced before it is handed out, and, as
    with ``pool_pre_ping``, every connection pooled before it is replaced too at its next checkout,
    without a ping each: after a server restart they are all dead.
    """

    @event.listens_for(engine, "checkin")
    def _note_checkin(_: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and every one pooled before it, then checks out
            # (or opens) another.
            raise InvalidatePoolError(f"a pooled connection no longer answers: {exc}") from exc


class EngineOptions(TypedDict, total=False):
    """What an engine factory takes beside the spec and the settings."""

    url: str | None  # instead of the settings' URL of the database
    application_name: str | None  # default: ``default_application_name``
    # For a process that only reads the database: every connection runs in autocommit (no BEGIN
    # or ROLLBACK around a statement, nothing switched at checkout) and the server refuses writes.
    read_only: bool


def _engine_arguments(spec: DatabaseSpec, settings: Settings, options: EngineOptions) -> dict[str, Any]:
    """``create_engine``'s arguments: the URL, the pool and the connection settings."""
    read_only = options.get("read_only", False)
    name = options.get("application_name") or default_application_name(spec)
    arguments: dict[str, Any] = {
        "url": options.get("url") or spec.url(settings),
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        "connect_args": connect_args(settings, name, read_only=read_only),
    }
    return {**arguments, "isolation_level": "AUTOCOMMIT"} if read_only else arguments


def create_async_database_engine(
    spec: DatabaseSpec, settings: Settings, **options: Unpack[EngineOptions]
) -> AsyncEngine:
    """An async engine for ``spec``'s database, its idle connections pinged before reuse."""
    engine = create_async_engine(**_engine_arguments(spec, settings, options))
    ping_idle_connections(engine.sync_engine)
    return engine


def create_sync_database_engine(
    spec: DatabaseSpec, settings: Settings, **options: Unpack[EngineOptions]
) -> Engine:
    """A sync engine for ``spec``'s database, as ``create_async_database_engine``."""
    engine = create_engine(**_engine_arguments(spec, settings, options))
    ping_idle_connections(engine)
    return engine


# SQLSTATE classes of a server that cannot serve: connection exception, insufficient resources (too
# many connections, out of memory or disk), operator intervention (shutdown, statement timeout).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


def means_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (psycopg's or SQLAlchemy's) means the database did not answer: no pooled
    connection in time, a refused or failed connect, a lost connection, a statement past the
    statement timeout, a server out of connections or shutting down."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True
    cause: BaseException | None = exc
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        cause = exc.orig
    if not isinstance(cause, psycopg.OperationalError):
        return False
    # No SQLSTATE: the error is the client's own (refused, unreachable, the connection dropped).
    return cause.sqlstate is None or cause.sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)


def unavailable(
    spec: DatabaseSpec, url: str, exc: BaseException, variable: str | None = None
) -> DatabaseUnavailableError:
    """A ``DatabaseUnavailableError`` naming the database, the variable its URL came from (default:
    the services' URL) and its server, never the password."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = reason[0] if reason else type(exc).__name__
    # Host and port only: the path and query may carry a password libpq-style (?password=...).
    where = mask_password(url).split("://", 1)[-1].split("@")[-1].split("/", 1)[0].split("?", 1)[0]
    variable = variable or spec.url_variable
    return DatabaseUnavailableError(
        f"the {spec.name} database ({variable}: {where}, database {database_name(url)!r}) "
        f"does not answer: {detail}"
    )

"""Engine factories: one async (psycopg 3 async) and one sync engine per database and settings.

Pool size, overflow, pool timeout, pre-ping, recycle, connect timeout, statement timeout and the
``application_name`` shown in ``pg_stat_activity`` all come from the settings; every session runs
in UTC.
"""

import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core_config import Settings, database_name, mask_password
from db_core.errors import DatabaseUnavailableError
from db_core.spec import DatabaseSpec

_MAX_APPLICATION_NAME = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1)


def default_application_name(spec: DatabaseSpec) -> str:
    """``<program>:<database>``, e.g. ``api-serve:general``, so a DBA can tell connections apart."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{program}:{spec.name}"[:_MAX_APPLICATION_NAME]


def connect_args(settings: Settings, application_name: str) -> dict[str, Any]:
    """psycopg connection parameters shared by the async and sync engines."""
    # Sessions in UTC whatever the server's default: timestamptz values come back as UTC datetimes,
    # which serialise straight to ISO 8601 ``Z`` times without a conversion per value.
    options = ["-c TimeZone=UTC"]
    if settings.db_statement_timeout_ms:
        options.append(f"-c statement_timeout={settings.db_statement_timeout_ms}")
    return {
        "connect_timeout": settings.db_connect_timeout,
        "application_name": application_name[:_MAX_APPLICATION_NAME],
        "options": " ".join(options),
    }


def _engine_options(spec: DatabaseSpec, settings: Settings, application_name: str | None) -> dict[str, Any]:
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        "pool_pre_ping": True,
        "connect_args": connect_args(settings, application_name or default_application_name(spec)),
    }


def create_async_database_engine(
    spec: DatabaseSpec, settings: Settings, *, url: str | None = None, application_name: str | None = None
) -> AsyncEngine:
    """An async engine for ``spec``'s database (``url`` overrides the one in ``settings``)."""
    return create_async_engine(url or spec.url(settings), **_engine_options(spec, settings, application_name))


def create_sync_database_engine(
    spec: DatabaseSpec, settings: Settings, *, url: str | None = None, application_name: str | None = None
) -> Engine:
    """A sync engine for ``spec``'s database (``url`` overrides the one in ``settings``)."""
    return create_engine(url or spec.url(settings), **_engine_options(spec, settings, application_name))


def unavailable(spec: DatabaseSpec, url: str, exc: BaseException) -> DatabaseUnavailableError:
    """A ``DatabaseUnavailableError`` naming the database and its server, never the password."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = reason[0] if reason else type(exc).__name__
    where = mask_password(url).split("://", 1)[-1].split("@")[-1]
    return DatabaseUnavailableError(
        f"the {spec.name} database ({spec.url_variable}: {where}, database {database_name(url)!r}) "
        f"does not answer: {detail}"
    )

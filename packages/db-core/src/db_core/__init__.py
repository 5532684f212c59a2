"""Shared PostgreSQL plumbing for the database packages: engines and sessions, the read pool,
Alembic, test fixtures.

db_user and db_general each describe themselves with a ``DatabaseSpec`` and register it under the
``db_core.databases`` entry-point group; db_core never imports them.

Every name loads on first use (PEP 562): the migration runner (``db_core.migrations``: Alembic,
and through it Mako) only in a program that migrates, SQLAlchemy and psycopg only once a program
uses them (``db-migrate --help`` answers without them).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from db_core.engines import (
        connect_args,
        create_async_database_engine,
        create_sync_database_engine,
        default_application_name,
        means_unavailable,
        ping_idle_connections,
    )
    from db_core.errors import (
        DatabaseError,
        DatabaseUnavailableError,
        UnknownDatabaseError,
        WrongDatabaseError,
    )
    from db_core.migrations import (
        MigrationDriftError,
        alembic_config,
        check,
        check_identity,
        downgrade,
        head_revisions,
        revision,
        run_environment,
        upgrade,
    )
    from db_core.pool_stats import PoolStats
    from db_core.reads import ReadConnection, ReadPool, fetch_rows, select_list
    from db_core.registry import ENTRY_POINT_GROUP, database_spec, registered_databases
    from db_core.schema import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, new_metadata
    from db_core.sessions import (
        Database,
        async_session_factory,
        async_session_scope,
        session_scope,
        sync_session_factory,
    )
    from db_core.spec import DatabaseSpec
    from db_core.status import MigrationStatus, current_status, migration_status

_HOMES: dict[str, str] = {
    "Database": "sessions",
    "DatabaseError": "errors",
    "DatabaseSpec": "spec",
    "DatabaseUnavailableError": "errors",
    "ENTRY_POINT_GROUP": "registry",
    "MigrationDriftError": "migrations",
    "MigrationStatus": "status",
    "NAMING_CONVENTION": "schema",
    "PoolStats": "pool_stats",
    "ReadConnection": "reads",
    "ReadPool": "reads",
    "TYPE_ANNOTATION_MAP": "schema",
    "UnknownDatabaseError": "errors",
    "WrongDatabaseError": "errors",
    "alembic_config": "migrations",
    "async_session_factory": "sessions",
    "async_session_scope": "sessions",
    "check": "migrations",
    "check_identity": "migrations",
    "connect_args": "engines",
    "create_async_database_engine": "engines",
    "create_sync_database_engine": "engines",
    "current_status": "status",
    "database_spec": "registry",
    "default_application_name": "engines",
    "downgrade": "migrations",
    "fetch_rows": "reads",
    "head_revisions": "migrations",
    "means_unavailable": "engines",
    "migration_status": "status",
    "new_metadata": "schema",
    "ping_idle_connections": "engines",
    "registered_databases": "registry",
    "revision": "migrations",
    "run_environment": "migrations",
    "select_list": "reads",
    "session_scope": "sessions",
    "sync_session_factory": "sessions",
    "upgrade": "migrations",
}


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ENTRY_POINT_GROUP",
    "NAMING_CONVENTION",
    "TYPE_ANNOTATION_MAP",
    "Database",
    "DatabaseError",
    "DatabaseSpec",
    "DatabaseUnavailableError",
    "MigrationDriftError",
    "MigrationStatus",
    "PoolStats",
    "ReadConnection",
    "ReadPool",
    "UnknownDatabaseError",
    "WrongDatabaseError",
    "alembic_config",
    "async_session_factory",
    "async_session_scope",
    "check",
    "check_identity",
    "connect_args",
    "create_async_database_engine",
    "create_sync_database_engine",
    "current_status",
    "database_spec",
    "default_application_name",
    "downgrade",
    "fetch_rows",
    "head_revisions",
    "means_unavailable",
    "migration_status",
    "new_metadata",
    "ping_idle_connections",
    "registered_databases",
    "revision",
    "run_environment",
    "select_list",
    "session_scope",
    "sync_session_factory",
    "upgrade",
]

"""Shared PostgreSQL plumbing for the database packages: engines and sessions, the read pool,
Alembic, test fixtures.

db_user and db_general each describe themselves with a ``DatabaseSpec`` and register it under the
``db_core.databases`` entry-point group; db_core never imports them.
"""

from db_core.engines import (
    connect_args,
    create_async_database_engine,
    create_sync_database_engine,
    default_application_name,
    means_unavailable,
    ping_idle_connections,
)
from db_core.errors import DatabaseError, DatabaseUnavailableError, UnknownDatabaseError, WrongDatabaseError
from db_core.migrations import (
    MigrationDriftError,
    MigrationStatus,
    alembic_config,
    check,
    check_identity,
    current_status,
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
from db_core.status import migration_status

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

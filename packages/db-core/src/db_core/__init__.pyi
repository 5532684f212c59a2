"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .engines import (
    create_async_database_engine,
    create_sync_database_engine,
    means_unavailable,
    ping_idle_connections,
)
from .errors import (
    DatabaseError,
    DatabaseUnavailableError,
    UnknownDatabaseError,
    WrongDatabaseError,
)
from .migrations import (
    MigrationDriftError,
    alembic_config,
    check,
    downgrade,
    head_revisions,
    revision,
    run_environment,
    upgrade,
)
from .pool_stats import (
    PoolStats,
)
from .registry import (
    ENTRY_POINT_GROUP,
    database_spec,
    registered_databases,
)
from .schema import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIdentity,
    new_metadata,
    new_registry,
    one_of,
)
from .selects import (
    numerics_as_text,
)
from .sessions import (
    Database,
    async_session_factory,
    async_session_scope,
    session_scope,
    sync_session_factory,
)
from .spec import (
    DatabaseSpec,
)
from .status import (
    MigrationStatus,
    current_status,
    migration_status,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "NAMING_CONVENTION",
    "TYPE_ANNOTATION_MAP",
    "BigIdentity",
    "Database",
    "DatabaseError",
    "DatabaseSpec",
    "DatabaseUnavailableError",
    "MigrationDriftError",
    "MigrationStatus",
    "PoolStats",
    "UnknownDatabaseError",
    "WrongDatabaseError",
    "alembic_config",
    "async_session_factory",
    "async_session_scope",
    "check",
    "create_async_database_engine",
    "create_sync_database_engine",
    "current_status",
    "database_spec",
    "downgrade",
    "head_revisions",
    "means_unavailable",
    "migration_status",
    "new_metadata",
    "new_registry",
    "numerics_as_text",
    "one_of",
    "ping_idle_connections",
    "registered_databases",
    "revision",
    "run_environment",
    "session_scope",
    "sync_session_factory",
    "upgrade",
]

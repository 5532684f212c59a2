"""``DatabaseSpec``: everything db_core needs to know about one database, registered by its package."""

from dataclasses import dataclass, field

from sqlalchemy import MetaData

from core_config import Settings


@dataclass(frozen=True)
class DatabaseSpec:
    """One database: its models' metadata, where its URL and migrations live, and how to recognise it.

    A database is recognised by its tables: its own Alembic version table and the tables of its
    models. Migrating is refused when the target database holds tables that belong to another
    registered database (see ``db_core.migrations``).
    """

    name: str
    metadata: MetaData
    url_setting: str
    script_location: str
    version_table: str
    # The newest revision in ``script_location``'s versions/, written here so that readiness knows
    # it without loading Alembic; ``db-migrate check`` and db-core's tests hold it to the scripts.
    head_revision: str
    description: str = field(default="", compare=False)

    @property
    def marker_tables(self) -> frozenset[str]:
        """Tables whose presence identifies this database."""
        return frozenset({self.version_table, *self.metadata.tables})

    @property
    def url_variable(self) -> str:
        """The environment variable of its URL, as shown in errors."""
        return self.url_setting.upper()

    def url(self, settings: Settings) -> str:
        """The database's SQLAlchemy URL (psycopg 3 driver) from ``settings``."""
        value = getattr(settings, self.url_setting)
        return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)

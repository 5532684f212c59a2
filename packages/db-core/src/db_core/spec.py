"""``DatabaseSpec``: everything db_core needs to know about one database, registered by its package."""

from dataclasses import dataclass

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
    # The package that registers it and holds its Alembic scripts in ``<package>/migrations``.
    package: str
    metadata: MetaData
    # The newest revision in the package's migrations/versions/, written here so that readiness
    # knows it without loading Alembic; ``db-migrate check`` and db-core's tests hold it to the scripts.
    head_revision: str

    @property
    def url_setting(self) -> str:
        """The settings field of its URL."""
        return f"database_url_{self.name}"

    @property
    def url_variable(self) -> str:
        """The environment variable of its URL, as shown in errors."""
        return self.url_setting.upper()

    @property
    def version_table(self) -> str:
        """Its own Alembic version table: both databases may live on one server."""
        return f"alembic_version_{self.name}"

    @property
    def marker_tables(self) -> frozenset[str]:
        """Tables whose presence identifies this database."""
        return frozenset({self.version_table, *self.metadata.tables})

    @property
    def script_location(self) -> str:
        """Where Alembic finds its scripts."""
        return f"{self.package}:migrations"

    def url(self, settings: Settings) -> str:
        """The database's SQLAlchemy URL (psycopg 3 driver) from ``settings``."""
        value = getattr(settings, self.url_setting)
        return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)

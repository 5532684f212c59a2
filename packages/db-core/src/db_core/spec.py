"""``DatabaseSpec``: everything db_core needs to know about one database, registered by its package."""

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import MetaData

from core_config import Settings
from db_core.script_heads import package_heads


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

    @cached_property
    def head_revision(self) -> str:
        """The newest revision of the package's scripts (``<package>/migrations/versions``), read
        from the files without loading Alembic (``db_core.script_heads``), once per process."""
        found = package_heads(self.package)
        if len(found) != 1:
            raise ValueError(
                f"the {self.name} database's migration scripts have {len(found)} heads "
                f"({', '.join(found) or 'none'}); merge them into one"
            )
        return found[0]

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

    @property
    def migration_url_variable(self) -> str:
        """The environment variable of its owner's URL, which migrations use."""
        return f"DATABASE_MIGRATION_URL_{self.name.upper()}"

    def migration_url(self, settings: Settings) -> str:
        """The URL migrations connect with: the owner's, or the services' URL where no owner's is
        set (a developer's machine, where one role does everything)."""
        value = getattr(settings, self.migration_url_variable.lower(), None)
        return value.get_secret_value() if value is not None else self.url(settings)

    def migration_variable(self, settings: Settings) -> str:
        """The variable ``migration_url`` came from, as errors name it."""
        owner = getattr(settings, self.migration_url_variable.lower(), None)
        return self.migration_url_variable if owner is not None else self.url_variable

    def url(self, settings: Settings) -> str:
        """The database's SQLAlchemy URL (psycopg 3 driver) from ``settings``."""
        value = getattr(settings, self.url_setting)
        return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)

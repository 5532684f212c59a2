"""Finding the installed databases through the ``db_core.databases`` entry-point group.

db_core cannot import the database packages (they import it); each registers its spec instead.
"""

from functools import cache
from importlib.metadata import entry_points

from db_core.errors import UnknownDatabaseError
from db_core.spec import DatabaseSpec

ENTRY_POINT_GROUP = "db_core.databases"


@cache
def registered_databases() -> dict[str, DatabaseSpec]:
    """Every registered database by name, in name order."""
    found: dict[str, DatabaseSpec] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, DatabaseSpec):
            raise TypeError(f"entry point {entry.name!r} of {ENTRY_POINT_GROUP} is not a DatabaseSpec")
        found[spec.name] = spec
    return dict(sorted(found.items()))


def database_spec(name: str) -> DatabaseSpec:
    """The registered database called ``name``."""
    databases = registered_databases()
    try:
        return databases[name]
    except KeyError:
        known = ", ".join(databases) or "none"
        raise UnknownDatabaseError(f"no database named {name!r} (registered: {known})") from None

"""``db-migrate``: migrate, check and extend the registered databases.

    db-migrate upgrade [NAME ...]        every database (or those named) to head
    db-migrate downgrade NAME REVISION   one database down to REVISION (``base``: empty)
    db-migrate check [NAME ...]          fail when models and migrations differ (drift)
    db-migrate revision NAME -m MSG      autogenerate a revision from the models
    db-migrate current [NAME ...]        reachable? at head?

URLs come from core-config: ``current`` reads with the services' URLs (``DATABASE_URL_USER``,
``DATABASE_URL_GENERAL``); the commands that change a schema connect as each database's owner
(``DATABASE_MIGRATION_URL_USER``, ``DATABASE_MIGRATION_URL_GENERAL``: required in staging and
production, where the services' roles may not change the schema; locally the services' URLs). A
bad setting prints one line per problem and exits 2; a database error prints one line and exits 1.
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core_config import Settings, exit_on_config_error, get_settings

if TYPE_CHECKING:
    from db_core.spec import DatabaseSpec

# Below, db_core (SQLAlchemy, psycopg) loads once the arguments are parsed, and Alembic only for the
# commands that run it: `--help` and a usage error answer without them.


_READ_URLS = ("database_url_user", "database_url_general")
_OWNER_URLS = ("database_migration_url_user", "database_migration_url_general")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="db-migrate", description="Migrate the PostgreSQL databases.")
    commands = parser.add_subparsers(dest="command", required=True)
    names = "database names (default: all registered)"
    commands.add_parser("upgrade", help="migrate to head").add_argument("names", nargs="*", help=names)
    down = commands.add_parser("downgrade", help="migrate one database down to a revision")
    down.add_argument("name")
    down.add_argument("revision", help="a revision id, a relative step like -1, or base")
    commands.add_parser("check", help="fail when models and migrations differ").add_argument(
        "names", nargs="*", help=names
    )
    rev = commands.add_parser("revision", help="autogenerate a new revision from the models")
    rev.add_argument("name")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--empty", action="store_true", help="write an empty revision (no autogenerate)")
    commands.add_parser("current", help="show whether each database is at head").add_argument(
        "names", nargs="*", help=names
    )
    return parser


def _chosen(names: Sequence[str]) -> list["DatabaseSpec"]:
    from db_core.registry import database_spec, registered_databases  # noqa: PLC0415 - see the imports

    return [database_spec(n) for n in names] if names else list(registered_databases().values())


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from db_core.registry import database_spec  # noqa: PLC0415 - see the imports
    from db_core.status import current_status  # noqa: PLC0415

    if args.command == "current":  # one query per database; Alembic is not needed
        statuses = [current_status(spec, settings) for spec in _chosen(args.names)]
        for status in statuses:
            print(status.describe())
        return 0 if all(s.at_head for s in statuses) else 1
    from db_core import migrations  # noqa: PLC0415 - Alembic and Mako load only for the commands using them

    if args.command == "upgrade":
        for spec in _chosen(args.names):
            migrations.upgrade(spec, settings)
            print(f"{spec.name}: at head")
    elif args.command == "downgrade":
        migrations.downgrade(database_spec(args.name), settings, args.revision)
        print(f"{args.name}: at {args.revision}")
    elif args.command == "check":
        for spec in _chosen(args.names):
            migrations.check(spec, settings)
            print(f"{spec.name}: no drift")
    else:
        spec = database_spec(args.name)
        written = migrations.revision(spec, settings, args.message, autogenerate=not args.empty)
        print(f"{spec.name}: wrote revision {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # Show Alembic's "Running upgrade a -> b" lines; the rest of its chatter stays quiet.
    steps = logging.getLogger("alembic.runtime.migration")
    steps.setLevel(logging.INFO)
    steps.addFilter(lambda record: record.getMessage().startswith("Running "))
    reads_only = args.command == "current"
    with exit_on_config_error():
        settings = get_settings().require(*(_READ_URLS if reads_only else _OWNER_URLS))
    from db_core.errors import DatabaseError  # noqa: PLC0415 - see the imports

    try:
        code = _run(args, settings)
    except DatabaseError as exc:
        print(f"db-migrate: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(code)


if __name__ == "__main__":
    main()

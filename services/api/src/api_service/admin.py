"""``api-admin``: the operator's command line for users, tokens, the master key file, rotation and
the trading kill switch.

Every command prints its result on stdout (``tokens issue`` prints the token alone, once) and its
errors as one line on stderr; a bad setting exits with status 2 like every entry point. Each
command that changes something leaves an audit line (``operator.command``) on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from api_service.audit import Action, audit
from api_service.required_settings import REQUIRED_SETTINGS
from api_service.tokens import hash_token, new_token
from core_config import ConfigError, Settings, exit_on_config_error, get_settings, mask_password
from db_user.scopes import TokenScope

if TYPE_CHECKING:
    from api_service.halt_sweep import CredentialSwept
    from db_core import Database
    from db_user import Actor, Halt, User

# Each command imports the database and crypto code it uses in its own body: `--help`, a usage
# error and the key-file commands answer without loading SQLAlchemy and the drivers.


class AdminError(Exception):
    """A command could not do what it was asked; the message says why."""


_DURATION = re.compile(r"(\d{1,5})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


# ``--expires-in`` not given: the token lives TOKEN_LIFETIME_DAYS.
_DEFAULT_LIFETIME = object()
NEVER = "never"


def duration(text: str) -> timedelta | None:
    """``90d``, ``12h`` or ``30m`` as a ``timedelta``, ``never`` as None (the ``--expires-in`` argument)."""
    if text.strip() == NEVER:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90d, 12h or 30m, nor never")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _command(settings: Settings, name: str, **fields: str | int | None) -> None:
    """The audit line of a command that changed something, on stderr. The logging stack loads here,
    for that line: a command that changes nothing (``--help``, a listing) never loads it."""
    from core_config import configure_logging  # noqa: PLC0415 - see the docstring

    configure_logging(settings.log_level, json_lines=settings.json_logs)
    audit(Action.OPERATOR_COMMAND, command=name, **fields)


async def _with_user_db(settings: Settings, work: Callable[[Database], Awaitable[None]]) -> None:
    from db_core import Database  # noqa: PLC0415 - see the imports
    from db_user import USER_DB  # noqa: PLC0415

    database = Database(USER_DB, settings, application_name="api-admin")
    # Which database a command reads and writes, said before it does (a LOCAL_POSTGRES_PORT or a
    # DATABASE_URL_USER of another shell picks another server): host, port and name, no password.
    where = mask_password(USER_DB.url(settings)).split("://", 1)[-1].rpartition("@")[-1]
    print(f"api-admin: user database {where}", file=sys.stderr)
    try:
        await work(database)
    finally:
        await database.dispose()


async def _user(database: Database, email: str) -> User:
    from db_user import get_user_by_email  # noqa: PLC0415 - see the imports

    async with database.session() as session:
        user = await get_user_by_email(session, email)
    if user is None:
        raise AdminError(f"no user with email {email}; create one with 'api-admin users create'")
    return user


def users_create(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import EmailTakenError, create_user  # noqa: PLC0415 - see the imports

    async def work(database: Database) -> None:
        async with database.session() as session:
            try:
                user = await create_user(session, args.email)
            except EmailTakenError:
                raise AdminError(f"a user with email {args.email} exists already") from None
        _command(settings, "users create", user_id=user.id)
        print(f"user {user.id} {user.email}")

    asyncio.run(_with_user_db(settings, work))


def users_disable(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import disable_user  # noqa: PLC0415 - see the imports

    async def work(database: Database) -> None:
        user = await _user(database, args.email)
        async with database.session() as session:
            if not await disable_user(session, user.id):
                raise AdminError(f"{args.email} is disabled already")
        _command(settings, "users disable", user_id=user.id)
        print(f"user {user.id} {user.email} disabled; none of their tokens is accepted any more")

    asyncio.run(_with_user_db(settings, work))


def tokens_issue(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import add_api_token  # noqa: PLC0415 - see the imports

    async def work(database: Database) -> None:
        user = await _user(database, args.email)
        token = new_token()
        lifetime = (
            timedelta(days=settings.token_lifetime_days)
            if args.expires_in is _DEFAULT_LIFETIME
            else args.expires_in
        )
        expires_at = datetime.now(UTC) + lifetime if lifetime else None
        async with database.session() as session:
            issued = await add_api_token(
                session,
                user_id=user.id,
                name=args.name,
                token_hash=hash_token(token),
                scope=TokenScope(args.scope),
                expires_at=expires_at,
            )
        _command(
            settings,
            "tokens issue",
            user_id=user.id,
            token_id=issued.id,
            scope=args.scope,
            expires_at=expires_at.isoformat() if expires_at else NEVER,
        )
        print(token)

    asyncio.run(_with_user_db(settings, work))


def tokens_list(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import list_api_tokens  # noqa: PLC0415 - see the imports

    async def work(database: Database) -> None:
        user = await _user(database, args.email)
        async with database.session() as session:
            tokens = await list_api_tokens(session, user.id)
        now = datetime.now(UTC)
        for token in tokens:
            if token.revoked_at:
                state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
            elif token.expires_at and token.expires_at <= now:
                state = f"expired {token.expires_at:%Y-%m-%d %H:%M}"
            else:
                state = f"active until {token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "active"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            print(
                f"{token.id}\t{token.name}\t{token.scope}\t{state}"
                f"\tcreated {token.created_at:%Y-%m-%d %H:%M}\tused {used}"
            )

    asyncio.run(_with_user_db(settings, work))


def tokens_revoke(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import revoke_api_token  # noqa: PLC0415 - see the imports

    async def work(database: Database) -> None:
        user = await _user(database, args.email)
        async with database.session() as session:
            if not await revoke_api_token(session, args.id, user_id=user.id):
                raise AdminError(f"{args.email} has no active token {args.id}")
        _command(settings, "tokens revoke", user_id=user.id, token_id=args.id)
        print(f"token {args.id} revoked")

    asyncio.run(_with_user_db(settings, work))


def master_key_generate(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import generate_key_file  # noqa: PLC0415 - see the imports

    path = args.path or settings.render_master_key_path
    print(f"wrote {path} (mode 0600) with primary key {generate_key_file(path)}")


def master_key_add(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import add_primary_key  # noqa: PLC0415 - see the imports

    path = args.path or settings.render_master_key_path
    key_id = add_primary_key(path)
    _command(settings, "master-key add", key_id=key_id)
    print(f"added primary key {key_id} to {path}; run 'api-admin vault rotate' once it is deployed")


def master_key_remove(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import credential_key_ids, load_master_keys, remove_key  # noqa: PLC0415 - see the imports

    path = args.path or settings.render_master_key_path
    ring = load_master_keys(path, strict_permissions=True)
    if args.id not in ring.keys:
        raise AdminError(f"{path} holds no key {args.id}")
    if args.id == ring.primary_id:  # checked before the database: no credential matters here
        raise AdminError(f"{args.id} is the primary key of {path}; add a new primary key first")

    async def work(database: Database) -> None:
        async with database.session() as session:
            in_use = await credential_key_ids(session)
        if args.id in in_use:
            raise AdminError(f"credentials still use key {args.id}; run 'api-admin vault rotate' first")

    # No credential can start using the key meanwhile: new secrets go under the primary key only.
    asyncio.run(_with_user_db(settings, work))
    remove_key(path, args.id)
    _command(settings, "master-key remove", key_id=args.id)
    print(f"removed key {args.id} from {path}; redeploy with the new file")


def vault_rotate(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import Vault, rotate_credentials  # noqa: PLC0415 - see the imports

    vault = Vault.from_settings(settings)

    def progress(batches: int, rotated: int) -> None:
        print(f"batch {batches}: {rotated} rotated so far", flush=True)

    async def work(database: Database) -> None:
        report = await rotate_credentials(
            database.async_sessions(), vault, batch_size=args.batch_size, on_batch=progress
        )
        # Every credential's secret was decrypted to be sealed again: the rotation is its record.
        _command(
            settings,
            "vault rotate",
            key_id=vault.primary_key_id,
            rotated=report.rotated,
            failed=report.failed,
            total=report.total,
        )
        print(
            f"rotated {report.rotated}, failed {report.failed}; "
            f"{report.under_primary} of {report.total} credentials are under key {vault.primary_key_id}"
        )
        if report.failed:
            raise AdminError(f"{report.failed} credentials could not be decrypted; see the log above")
        if report.under_primary != report.total:
            left = report.total - report.under_primary
            raise AdminError(f"{left} credentials are still under an older key; run the rotation again")

    asyncio.run(_with_user_db(settings, work))


def _admin_actor() -> Actor:
    from db_user import Actor  # noqa: PLC0415 - see the imports

    # The audit trail's "who" and "from where" for the command line: the OS user and this host.
    return Actor(f"api-admin:{getpass.getuser()}", None, f"host:{socket.gethostname()}")


async def _target_user_id(database: Database, args: argparse.Namespace) -> int | None:
    return None if args.all else (await _user(database, args.user)).id


def _describe(halt: Halt) -> str:
    whom = "everyone" if halt.user_id is None else f"user {halt.user_id}"
    since = f"{halt.created_at:%Y-%m-%d %H:%M:%S}"
    return f"halt {halt.id} of {whom} since {since} by {halt.created_by}: {halt.reason}"


def _print_swept(swept: list[CredentialSwept], when: str) -> int:
    """Print a sweep's outcome per credential; the number whose outcome is unknown."""
    for one in swept:
        detail = f"\t{one.detail}" if one.detail else ""
        which = f"credential {one.credential_id}\tuser {one.user_id}"
        print(f"{when}\t{which}\t{one.outcome}\t{one.cancelled} cancelled{detail}")
    return sum(1 for one in swept if one.outcome == "unknown")


def trading_halt(settings: Settings, args: argparse.Namespace) -> None:
    from redis.asyncio import Redis  # noqa: PLC0415 - see the imports

    from api_service.bybit_access import bybit_budget  # noqa: PLC0415
    from api_service.halt_sweep import Sweeper, in_flight_deadline  # noqa: PLC0415
    from api_service.kill_switch import halt, sweep, sweep_after_deadline  # noqa: PLC0415
    from db_user import Vault  # noqa: PLC0415

    vault = Vault.from_settings(settings)

    async def work(database: Database) -> None:
        user_id = await _target_user_id(database, args)
        redis = Redis.from_url(settings.redis_url.get_secret_value())
        try:
            sweeper = Sweeper(settings, vault, bybit_budget(settings, redis))
            halted, created = await halt(database, _admin_actor(), user_id=user_id, reason=args.reason)
            print(("halted: " if created else "already in force: ") + _describe(halted), flush=True)
            unknown = _print_swept(await sweep(database, sweeper, [halted], "at halt"), "sweep")
            print(
                f"sweeping again in {in_flight_deadline(settings):g} s (orders sent before the halt)",
                flush=True,
            )
            unknown = _print_swept(await sweep_after_deadline(database, sweeper), "again")
        finally:
            await redis.aclose()
        if unknown:
            raise AdminError(
                f"{unknown} credentials may still have open orders (outcome unknown); run it again"
            )

    asyncio.run(_with_user_db(settings, work))


def trading_lift(settings: Settings, args: argparse.Namespace) -> None:
    from api_service.kill_switch import lift  # noqa: PLC0415 - see the imports

    async def work(database: Database) -> None:
        user_id = await _target_user_id(database, args)
        lifted = await lift(database, _admin_actor(), user_id=user_id, reason=args.reason)
        if lifted is None:
            raise AdminError(f"no halt is in force for {'everyone' if args.all else args.user}")
        print(f"lifted: {_describe(lifted)}")

    asyncio.run(_with_user_db(settings, work))


def trading_status(settings: Settings, args: argparse.Namespace) -> None:
    from db_user import halts_in_force  # noqa: PLC0415 - see the imports

    async def work(database: Database) -> None:
        async with database.session() as session:
            halts = await halts_in_force(session)
        for each in halts:
            print(_describe(each))
        if not halts:
            print("no halt in force: trading is allowed")

    asyncio.run(_with_user_db(settings, work))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="api-admin", description=__doc__.splitlines()[0])
    areas = parser.add_subparsers(required=True, metavar="AREA")

    users = areas.add_parser("users", help="create and disable users").add_subparsers(
        required=True, metavar="COMMAND"
    )
    create = users.add_parser("create", help="create a user")
    create.add_argument("--email", required=True)
    create.set_defaults(run=users_create)
    disable = users.add_parser("disable", help="disable a user: none of their tokens works any more")
    disable.add_argument("--email", required=True)
    disable.set_defaults(run=users_disable)

    tokens = areas.add_parser("tokens", help="API tokens").add_subparsers(required=True, metavar="COMMAND")
    issue = tokens.add_parser("issue", help="issue a token and print it, once")
    issue.add_argument("--email", required=True)
    issue.add_argument("--name", required=True, help="what the token is for")
    issue.add_argument(
        "--scope",
        choices=[scope.value for scope in TokenScope],
        default=TokenScope.USER.value,
        help="user: the user's own /v1/me routes (default); operator: enqueue syncs and read tasks",
    )
    issue.add_argument(
        "--expires-in",
        type=duration,
        default=_DEFAULT_LIFETIME,
        help="e.g. 90d, 12h, 30m, or never (default: TOKEN_LIFETIME_DAYS, 90 days)",
    )
    issue.set_defaults(run=tokens_issue)
    listing = tokens.add_parser("list", help="list a user's tokens")
    listing.add_argument("--email", required=True)
    listing.set_defaults(run=tokens_list)
    revoke = tokens.add_parser("revoke", help="revoke a token by its id (see 'tokens list')")
    revoke.add_argument("--email", required=True)
    revoke.add_argument("--id", required=True, type=int)
    revoke.set_defaults(run=tokens_revoke)

    keys = areas.add_parser("master-key", help="the master key file").add_subparsers(
        required=True, metavar="COMMAND"
    )
    for name, run, text in (
        ("generate", master_key_generate, "write a new key file (mode 0600) with one primary key"),
        ("add", master_key_add, "add a new primary key to the key file"),
    ):
        command = keys.add_parser(name, help=text)
        command.add_argument("--path", type=Path, help="default: RENDER_MASTER_KEY_PATH")
        command.set_defaults(run=run)
    remove = keys.add_parser(
        "remove", help="remove a key that is not the primary one and that no stored credential uses"
    )
    remove.add_argument("--path", type=Path, help="default: RENDER_MASTER_KEY_PATH")
    remove.add_argument("--id", required=True, help="the key's id")
    remove.set_defaults(run=master_key_remove)

    vault = areas.add_parser("vault", help="encrypted credentials").add_subparsers(
        required=True, metavar="COMMAND"
    )
    rotate = vault.add_parser("rotate", help="re-encrypt every credential under the primary key")
    rotate.add_argument("--batch-size", type=int, default=200)
    rotate.set_defaults(run=vault_rotate)

    trading = areas.add_parser("trading", help="the kill switch: halt and lift trading").add_subparsers(
        required=True, metavar="COMMAND"
    )
    for name, run, text in (
        ("halt", trading_halt, "halt trading, cancel the open orders of those it stops (twice), report it"),
        ("lift", trading_lift, "lift a halt (a user's own, or the one of everyone)"),
    ):
        command = trading.add_parser(name, help=text)
        whom = command.add_mutually_exclusive_group(required=True)
        whom.add_argument("--user", metavar="EMAIL", help="the user's email")
        whom.add_argument("--all", action="store_true", help="everyone")
        command.add_argument("--reason", required=name == "halt", help="why (kept in the audit trail)")
        command.set_defaults(run=run)
    trading.add_parser("status", help="the halts in force").set_defaults(run=trading_status)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    with exit_on_config_error():
        settings = get_settings().require(*REQUIRED_SETTINGS)
        try:
            args.run(settings, args)
        except AdminError as exc:
            print(f"api-admin: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        except ConfigError:
            raise


if __name__ == "__main__":
    main()

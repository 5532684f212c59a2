"""What a program loads: the api's app and every command's ``--help`` load only what they need.

Each check runs in a fresh interpreter, as a process starts, and fails naming the module that came
in and the first module of ours that brought it. The deny lists are the documentation:

- the api (``import api_service.app``) never loads the migration runner (Alembic, and Mako and
  Pygments with it), the worker (its Celery app lives in ``worker_service``) nor the worker's Bybit
  transport (pycurl); Celery (the task queue's client) and aiohttp (the Bybit client of the
  credential routes) load on first use, not before the first request;
- the worker's Celery app and tasks never load the migration runner, the web stack nor the async
  Bybit transport (aiohttp); its stream process (asyncio) never loads the sync one (pycurl);
- ``--help`` of ``api-admin``, ``db-migrate`` and ``worker-service`` loads no database, queue,
  web or logging stack: parsing arguments needs the settings at most;
- each ``api-admin`` command, run for real on a user database of this module's own, loads what it
  uses and nothing of the web service: no FastAPI, uvicorn, Redis, Celery, rate limiter, telemetry,
  general database or Bybit transport; the user and token commands no cryptography (tokens are
  hashed, not encrypted); the key-file commands no database stack; only a command that changes
  something loads the logging stack, for its audit line.

``rich`` is blocked in these interpreters: it is a development-only dependency (of schemathesis),
absent from the images, and structlog loads it, and Pygments with it, whenever it is installed.
"""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_support.scratch import scratch_database

from core_config import Settings, build_settings
from db_core.migrations import upgrade
from db_core.registry import database_spec
from db_user import generate_key_file

API_DENIED = (
    "alembic",
    "mako",
    "pygments",
    "worker_service",
    "pycurl",
    "db_core.migrations",
    "celery",
    "aiohttp",
)
WORKER_DENIED = ("alembic", "mako", "pygments", "fastapi", "uvicorn", "api_service", "aiohttp")
STREAM_DENIED = ("alembic", "mako", "pygments", "fastapi", "uvicorn", "api_service", "pycurl", "celery")
HELP_DENIED = (
    "alembic",
    "mako",
    "pygments",
    "sqlalchemy",
    "psycopg",
    "celery",
    "kombu",
    "redis",
    "fastapi",
    "aiohttp",
    "pycurl",
    "structlog",
    "cryptography",
)
# What no api-admin command needs: the web service, its queue and limiter, telemetry, the market
# data side and the migration runner.
ADMIN_DENIED = (
    "alembic",
    "mako",
    "pygments",
    "fastapi",
    "starlette",
    "uvicorn",
    "redis",
    "celery",
    "kombu",
    "limits",
    "aiohttp",
    "pycurl",
    "structlog",
    "opentelemetry",
    "core_telemetry",
    "db_general",
    "api_service.app",
    "api_service.resources",
)
ACCOUNT_DENIED = (*ADMIN_DENIED, "cryptography")
KEY_FILE_DENIED = (*ADMIN_DENIED, "sqlalchemy", "psycopg")


def audited(denied: tuple[str, ...]) -> tuple[str, ...]:
    """A command that changes something writes an audit line: the logging stack is its to load."""
    return tuple(module for module in denied if module != "structlog")


_PROBE = """
import json, sys
sys.modules["rich"] = None  # absent from the images, see the module docstring
seen = set(sys.modules)
parents = {}
import builtins
_import = builtins.__import__
stack = []
def tracing_import(name, globals=None, locals=None, fromlist=(), level=0):
    caller = (globals or {}).get("__name__", "?")
    before = set(sys.modules)
    module = _import(name, globals, locals, fromlist, level)
    for new in set(sys.modules) - before:
        parents.setdefault(new, caller)
    return module
builtins.__import__ = tracing_import
try:
    exec(sys.argv[1])
except SystemExit:
    pass
builtins.__import__ = _import
sys.stdout.write("\\n" + json.dumps({"modules": sorted(sys.modules), "parents": parents}) + "\\n")
"""


def _loaded(statement: str, env: dict[str, str] | None = None) -> tuple[set[str], dict[str, str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, statement],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return set(report["modules"]), report["parents"]


def _ours(module: str, parents: dict[str, str]) -> str:
    """The first module of this project on the chain that imported ``module``."""
    chain = [module]
    while chain[-1] in parents and len(chain) < 200:
        chain.append(parents[chain[-1]])
        if chain[-1].split(".")[0] in {
            "api_service",
            "db_core",
            "db_user",
            "db_general",
            "core_config",
            "bybit_client",
            "worker_service",
        }:
            break
    return " <- ".join(chain)


def _denied(statement: str, denied: tuple[str, ...], env: dict[str, str] | None = None) -> list[str]:
    modules, parents = _loaded(statement, env)
    found = []
    for name in denied:
        hits = sorted(m for m in modules if m == name or m.startswith(f"{name}."))
        if hits:
            found.append(_ours(hits[0], parents))
    return found


def test_the_api_app_loads_no_migration_runner_worker_task_client_or_bybit_transport() -> None:
    assert _denied("import api_service.app", API_DENIED) == []


def test_the_worker_loads_no_migration_runner_web_stack_or_async_transport() -> None:
    assert _denied("import worker_service.celery_app, worker_service.tasks", WORKER_DENIED) == []


def test_the_stream_process_loads_no_sync_transport_or_celery() -> None:
    assert _denied("import worker_service.stream_process", STREAM_DENIED) == []


@pytest.mark.parametrize(
    ("program", "main"),
    [
        ("api-admin", "api_service.admin"),
        ("db-migrate", "db_core.cli"),
        ("worker-service", "worker_service.cli"),
    ],
)
def test_help_loads_no_database_queue_web_or_logging_stack(program: str, main: str) -> None:
    statement = f"from {main} import main\nmain(['--help'])"
    assert _denied(statement, HELP_DENIED) == [], program


@dataclass(frozen=True)
class AdminRun:
    env: dict[str, str]
    folder: Path


@pytest.fixture(scope="module")
def admin_run(test_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminRun]:
    """api-admin's environment: a user database of this module's own (the rotation below must not
    touch other tests' credentials), holding one user, and a master key file in ``folder``."""
    folder = tmp_path_factory.mktemp("admin")
    generate_key_file(folder / "master.key")
    with scratch_database("admin_imports") as url:
        upgrade(database_spec("user"), build_settings(environment="test"), url=url)
        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "DATABASE_URL_USER": url,
            "DATABASE_URL_GENERAL": test_settings.database_url_general.get_secret_value(),
            "RENDER_MASTER_KEY_PATH": str(folder / "master.key"),
        }
        created = subprocess.run(
            [str(Path(sys.executable).with_name("api-admin")), "users", "create", "--email", ADMIN_EMAIL],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        yield AdminRun(env, folder)


ADMIN_EMAIL = f"imports-{uuid.uuid4().hex[:8]}@example.com"
ADMIN_COMMANDS = {
    "users create": (["users", "create", "--email", f"other-{ADMIN_EMAIL}"], audited(ACCOUNT_DENIED)),
    "users disable": (["users", "disable", "--email", f"other-{ADMIN_EMAIL}"], audited(ACCOUNT_DENIED)),
    "tokens issue": (["tokens", "issue", "--email", ADMIN_EMAIL, "--name", "probe"], audited(ACCOUNT_DENIED)),
    "tokens list": (["tokens", "list", "--email", ADMIN_EMAIL], ACCOUNT_DENIED),
    "tokens revoke": (["tokens", "revoke", "--email", ADMIN_EMAIL, "--id", "1"], audited(ACCOUNT_DENIED)),
    "master-key generate": (["master-key", "generate", "--path", "{folder}/new.key"], KEY_FILE_DENIED),
    "master-key add": (["master-key", "add", "--path", "{folder}/master.key"], audited(KEY_FILE_DENIED)),
    # Refused (no such key): it changes nothing, so it writes no audit line.
    "master-key remove": (["master-key", "remove", "--id", "no-such-key"], ACCOUNT_DENIED),
    "vault rotate": (["vault", "rotate"], audited(ADMIN_DENIED)),
}


@pytest.mark.timeout(300)  # a fresh database and a process per command, on a busy machine
@pytest.mark.parametrize("command", ADMIN_COMMANDS)
def test_each_admin_command_loads_what_it_uses_and_no_web_stack(command: str, admin_run: AdminRun) -> None:
    argv, denied = ADMIN_COMMANDS[command]
    argv = [arg.format(folder=admin_run.folder) for arg in argv]
    # The command runs for real (its outcome is api-admin's tests' business): what it loads counts.
    statement = f"from api_service.admin import main\nmain({argv!r})"
    assert _denied(statement, denied, admin_run.env) == [], command


def test_the_probe_sees_what_a_program_loads() -> None:
    # The deny lists are only worth something if the probe would see a denied module come in.
    assert "alembic" in "".join(_denied("import db_core.migrations", ("alembic",)))

"""What a program loads: the api's app and every command's ``--help`` load only what they need.

Each check runs in a fresh interpreter, as a process starts, and fails naming the module that came
in and the first module of ours that brought it. The deny lists are the documentation:

- the api (``import api_service.app``) never loads the migration runner (Alembic, and Mako and
  Pygments with it), the worker (its Celery app lives in ``worker_service``) nor the worker's Bybit
  transport (pycurl);
- the worker's Celery app and tasks never load the migration runner, the web stack nor the async
  Bybit transport (aiohttp); its stream process (asyncio) never loads the sync one (pycurl);
- ``--help`` of ``api-admin``, ``db-migrate`` and ``worker-service`` loads no database, queue,
  web or logging stack: parsing arguments needs the settings at most.

``rich`` is blocked in these interpreters: it is a development-only dependency (of schemathesis),
absent from the images, and structlog loads it, and Pygments with it, whenever it is installed.
"""

import json
import subprocess
import sys

import pytest

API_DENIED = ("alembic", "mako", "pygments", "worker_service", "pycurl", "db_core.migrations")
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


def _loaded(statement: str) -> tuple[set[str], dict[str, str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, statement], capture_output=True, text=True, timeout=120, check=True
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


def _denied(statement: str, denied: tuple[str, ...]) -> list[str]:
    modules, parents = _loaded(statement)
    found = []
    for name in denied:
        hits = sorted(m for m in modules if m == name or m.startswith(f"{name}."))
        if hits:
            found.append(_ours(hits[0], parents))
    return found


def test_the_api_app_loads_no_migration_runner_worker_or_sync_transport() -> None:
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


def test_the_probe_sees_what_a_program_loads() -> None:
    # The deny lists are only worth something if the probe would see a denied module come in.
    assert "alembic" in "".join(_denied("import db_core.migrations", ("alembic",)))

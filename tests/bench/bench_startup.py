"""How long a process of ours takes to be of use, side by side with the least it could take.

Rows (process wall time, median of several runs, ours and the baseline alternating in one run):
- ``api-serve`` from spawn to its first ``/health/live`` 200, against a bare FastAPI app with one
  route (``bare_fastapi.py``: FastAPI and uvicorn only) run under the uvicorn options ``api-serve``
  passes, both on fresh migrated databases, Redis and a key file as the API needs them;
- ``api-admin --help``, ``worker-service --help`` and ``db-migrate --help`` (the installed console
  scripts) against ``python -c "import pydantic_settings"``, the least any command of ours needs;
- the whole test suite's wall time with its ten slowest tests, read from the JUnit report the
  latest whole-suite ``make test`` wrote (``.bench/test-suite.xml``); no row when there is none.

The api image's start to healthy is not measured here: it needs the images built
(``infra/images/build.sh``), which takes minutes; see ``infra/images`` for running them.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench_api import fresh_databases
from harness import RESULTS, Row
from local_stack.ports import free_port
from reference_apps import api_serve_options

from core_config import Settings
from db_user import generate_key_file

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SUITE_REPORT = RESULTS.parent / "test-suite.xml"
RUNS = 7
BENCHMARK = "startup"


def _wall(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _first_200(command: list[str], env: dict[str, str], url: str, log: Path) -> float:
    """Seconds from spawn to the first 200 at ``url`` (polled every 5 ms); the process is stopped."""
    with log.open("ab") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
    try:
        deadline = started + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            if process.poll() is not None:
                raise SystemExit(f"{command[0]} exited with {process.returncode}; see {log}")
            if time.perf_counter() > deadline:
                raise SystemExit(f"{command[0]} gave no 200 at {url} within 60 s; see {log}")
            time.sleep(0.005)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _side_by_side(ours: Callable[[], float], theirs: Callable[[], float]) -> tuple[float, float]:
    """Medians in ms, the two sides alternating (and which goes first alternating too)."""
    mine: list[float] = []
    base: list[float] = []
    for round_ in range(RUNS):
        pair = [(ours, mine), (theirs, base)]
        for measure, into in pair if round_ % 2 == 0 else reversed(pair):
            into.append(measure() * 1000)
    return statistics.median(mine), statistics.median(base)


def _server_env(settings: Settings, port: int, key: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "staging",
        "LOG_LEVEL": "INFO",
        "API_HOST": "127.0.0.1",
        "API_WORKERS": "1",
        "PORT": str(port),
        "DATABASE_URL_USER": settings.database_url_user.get_secret_value(),
        "DATABASE_URL_GENERAL": settings.database_url_general.get_secret_value(),
        "REDIS_URL": settings.redis_url.get_secret_value(),
        "RENDER_MASTER_KEY_PATH": str(key),
    }


def serve_rows(folder: Path) -> list[Row]:
    key = folder / "master.key"
    generate_key_file(key)
    log = folder / "servers.log"
    with fresh_databases() as settings:
        port = free_port()
        env = _server_env(settings, port, key)
        # The options api-serve gives uvicorn, read from api_service.serve itself (in this process:
        # the bare app's process must load no more than FastAPI and uvicorn).
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            options = api_serve_options()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        bare = [sys.executable, str(HERE / "bare_fastapi.py"), json.dumps(options)]
        url = f"http://127.0.0.1:{port}/health/live"
        ours, theirs = _side_by_side(
            lambda: _first_200([str(BIN / "api-serve")], env, url, log),
            lambda: _first_200(bare, env, url, log),
        )
    return [
        Row(
            BENCHMARK,
            "api-serve to first /health/live 200",
            ours,
            f"ms, median of {RUNS} starts",
            "a bare FastAPI app (one route) under the same uvicorn options",
            theirs,
            "<= 1.5x the bare app (ratio >= 0.67x)",
            higher_is_better=False,
        )
    ]


def help_rows() -> list[Row]:
    floor = [sys.executable, "-c", "import pydantic_settings"]
    rows = []
    for program in ("api-admin", "worker-service", "db-migrate"):
        ours, theirs = _side_by_side(partial(_wall, [str(BIN / program), "--help"]), partial(_wall, floor))
        rows.append(
            Row(
                BENCHMARK,
                f"{program} --help",
                ours,
                f"ms, median of {RUNS} runs",
                'python -c "import pydantic_settings"',
                theirs,
                "<= 2x the baseline (ratio >= 0.5x)",
                higher_is_better=False,
            )
        )
    return rows


def suite_rows() -> list[Row]:
    if not SUITE_REPORT.exists():
        print(f"no {SUITE_REPORT.name}: run the whole suite with `make test` for the suite row")
        return []
    root = ET.parse(SUITE_REPORT).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    timed = (
        (float(case.get("time", 0)), f"{case.get('classname')}::{case.get('name')}")
        for case in suite.iter("testcase")
    )
    cases = sorted(timed, reverse=True)
    print(f"the ten slowest tests of the latest whole-suite run ({suite.get('timestamp')}):")
    for seconds, name in cases[:10]:
        print(f"  {seconds:7.2f} s  {name}")
    wall = float(suite.get("time", 0))
    tests = int(suite.get("tests", 0))
    return [
        Row(
            BENCHMARK,
            "test suite wall time",
            wall,
            f"s, {tests} tests",
            "itself (reported)",
            wall,
            "reported",
        ),
        Row(
            BENCHMARK,
            "ten slowest tests, total",
            sum(seconds for seconds, _ in cases[:10]),
            "s (listed above)",
            "the whole suite's wall time",
            wall,
            "reported",
            higher_is_better=False,
        ),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        rows = serve_rows(Path(folder))
    return rows + help_rows() + suite_rows()

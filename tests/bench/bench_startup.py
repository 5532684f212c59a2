"""How long a process of ours takes to be of use, side by side with the least it could take.

Rows (process wall time, median of several runs, ours and the baseline alternating in one run):
- ``api-serve`` from spawn to its first ``/health/live`` 200, against a bare FastAPI app with one
  route (``bare_fastapi.py``: FastAPI and uvicorn only) run under the uvicorn options ``api-serve``
  passes, both on fresh migrated databases, Redis and a key file as the API needs them;
- ``api-admin --help``, ``worker-service --help`` and ``db-migrate --help`` (the installed console
  scripts) against ``python -c "import pydantic_settings"``, the least any command of ours needs;
- the api image's container, from ``run`` to its first ``/health/live`` 200 (what its HEALTHCHECK
  asks), against the bare FastAPI app in an image built the same way (``bare-fastapi.Dockerfile``:
  same base, requirements, final stage and HEALTHCHECK; the app file mounted), both run as
  ``infra/images`` runs them (host network, the api's settings, a mounted key file). The images
  are (re)built first, through the layer cache; without a Docker engine or podman the row is
  skipped and says why;
- the whole test suite's wall time with its ten slowest tests, read from the JUnit report the
  latest whole-suite ``make test`` wrote (``.bench/test-suite.xml``); no row when there is none.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench_api import fresh_databases
from harness import RESULTS, Row
from local_stack.ports import free_port
from reference_apps import api_serve_options
from test_support.api_process import seconds_to_first_200
from test_support.environment import API_SETTINGS, STAGING_BYBIT, settings_environment

from core_config import Settings, get_settings
from db_user import generate_key_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
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
        return seconds_to_first_200(
            url, started, 60, lambda: process.poll() is None, f"{command[0]} (see {log})", interval=0.005
        )
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
    return settings_environment(
        settings,
        API_SETTINGS,
        ENVIRONMENT="staging",
        **STAGING_BYBIT,
        LOG_LEVEL="INFO",
        API_HOST="127.0.0.1",
        API_WORKERS="1",
        PORT=str(port),
        RENDER_MASTER_KEY_PATH=str(key),
    )


def _api_serve_options(env: dict[str, str]) -> dict[str, object]:
    """The options api-serve gives uvicorn under ``env``, read from api_service.serve itself (in
    this process: the bare app's process must load no more than FastAPI and uvicorn)."""
    saved = dict(os.environ)
    os.environ.update(env)
    get_settings.cache_clear()  # read from ``env``, not from an earlier call's environment
    try:
        return api_serve_options()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def serve_rows(folder: Path) -> list[Row]:
    key = folder / "master.key"
    generate_key_file(key)
    log = folder / "servers.log"
    with fresh_databases() as settings:
        port = free_port()
        env = _server_env(settings, port, key)
        options = _api_serve_options(env)
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


ENGINE_SH = ROOT / "infra" / "images" / "engine.sh"
BARE_DOCKERFILE = HERE / "bare-fastapi.Dockerfile"
IMAGE_USER = "10001:10001"  # the images' own user, who must own the mounted key file


def _engine(*args: str, capture: bool = False, log: Path | None = None) -> str:
    """A function of ``infra/images/engine.sh`` (``engine``: docker, or podman as set up there):
    its output returned (``capture``), appended to ``log``, or dropped."""
    command = ["bash", "-c", f'source "{ENGINE_SH}" && "$@"', "engine", *args]
    if log is not None:
        with log.open("ab") as output:
            subprocess.run(command, check=True, stdout=output, stderr=subprocess.STDOUT)
        return ""
    result = subprocess.run(
        command,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
    )
    return result.stdout.strip() if capture else ""


def _no_container_engine() -> str | None:
    """Why the container row cannot run here, or None when it can."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0:
        return None
    missing = [tool for tool in ("podman", "buildah", "runc") if shutil.which(tool) is None]
    if missing:
        return f"no Docker engine and no {', '.join(missing)} (`make images` installs podman and its tools)"
    try:
        _engine("engine", "info", capture=True)
    except subprocess.CalledProcessError as error:
        return f"podman cannot run here: {(error.stderr or '').strip().splitlines()[-1:]}"
    return None


def _container_first_200(
    image: str, args: list[str], url: str, log: Path, command: tuple[str, ...] = ()
) -> float:
    """Seconds from ``run`` to the first 200 at ``url``; the container is removed by its id."""
    started = time.perf_counter()
    container = _engine("engine", "run", "--detach", "--no-healthcheck", *args, image, *command, capture=True)
    try:
        return seconds_to_first_200(url, started, 120, lambda: True, f"{image} (see {log})", interval=0.005)
    finally:
        _engine("engine", "logs", container, log=log)
        _engine("engine", "rm", "--force", "--time", "10", container)


def container_rows(folder: Path) -> list[Row]:
    why_not = _no_container_engine()
    if why_not is not None:
        print(f"no container row: {why_not}")
        return []
    api_image = _engine("image_name", "api", capture=True)
    bare_image = _engine("image_name", "bare-fastapi", capture=True)
    print(f"building {api_image} and {bare_image} (layer cache) ...", flush=True)
    build_log = folder / "build.log"
    try:
        subprocess.run(
            [
                "bash",
                "-c",
                f'source "{ENGINE_SH}" && "$ROOT/infra/images/base-image.sh" && build_service_image api '
                f'&& build_image "{BARE_DOCKERFILE}" "{bare_image}"',
            ],
            check=True,
            stdout=build_log.open("w"),
            stderr=subprocess.STDOUT,
        )
    except subprocess.CalledProcessError:
        print(f"no container row: the images did not build; the end of {build_log}:")
        print("\n".join(build_log.read_text().splitlines()[-15:]))
        return []
    keys = folder / "keys"
    keys.mkdir()
    generate_key_file(keys / "master.key")
    user = [] if os.getuid() == 0 else ["--user", f"{os.getuid()}:{os.getgid()}"]
    if os.getuid() == 0:
        os.chown(keys, 10001, 10001)
        os.chown(keys / "master.key", 10001, 10001)
    log = folder / "containers.log"
    with fresh_databases() as settings:
        port = free_port()
        env = _server_env(settings, port, Path("/etc/secrets/master.key"))
        settings_args = [
            f"--env={name}={env[name]}"
            for name in (
                "ENVIRONMENT",
                "BYBIT_NETWORK",
                "BYBIT_API_URL",
                "LOG_LEVEL",
                "API_HOST",
                "API_WORKERS",
                "PORT",
                "DATABASE_URL_USER",
                "DATABASE_URL_GENERAL",
                "REDIS_URL",
                "RENDER_MASTER_KEY_PATH",
            )
        ]
        args = ["--network", "host", *user, *settings_args, "--volume", f"{keys}:/etc/secrets:ro"]
        options = _api_serve_options({**env, "RENDER_MASTER_KEY_PATH": str(keys / "master.key")})
        url = f"http://127.0.0.1:{port}/health/live"
        ours, theirs = _side_by_side(
            lambda: _container_first_200(api_image, args, url, log),
            lambda: _container_first_200(
                bare_image,
                [*args, "--volume", f"{HERE / 'bare_fastapi.py'}:/opt/bare_fastapi.py:ro"],
                url,
                log,
                (json.dumps(options),),
            ),
        )
    return [
        Row(
            BENCHMARK,
            "api image start to healthy",
            ours,
            f"ms, median of {RUNS} container starts (run to the first /health/live 200)",
            "the bare FastAPI app's image, built the same way",
            theirs,
            "reported",
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
    with tempfile.TemporaryDirectory(prefix="bench-startup-images-") as folder:
        rows += container_rows(Path(folder))
    return rows + help_rows() + suite_rows()

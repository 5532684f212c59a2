"""`make run` end to end: embedded PostgreSQL and Redis, migrations, services, Ctrl-C, a second run.

Runs the same command as `make run` in a subprocess, with no configured servers, free ports and its
own data folder, so it neither needs nor touches the machine's PostgreSQL and Redis.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from local_stack.discovery import plan_servers
from local_stack.ports import answers, free_port

from core_config import LOCAL_DATABASE_URL_USER, LOCAL_REDIS_URL, build_settings

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "infra" / "local" / "stack.py"

BIN = Path(sys.executable).parent
READY_SECONDS = 120.0
STOP_SECONDS = 60.0
# Whatever points a process at servers: the stack must find none and embed its own.
_SERVER_VARIABLES = ("DATABASE_URL_USER", "DATABASE_URL_GENERAL", "REDIS_URL", "TEST_DATABASE_URL")

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _redis(port: int, *command: str) -> bytes:
    """One RESP command on a fresh connection; the raw reply."""
    parts = [f"*{len(command)}\r\n".encode()]
    for arg in command:
        parts.append(f"${len(arg.encode())}\r\n{arg}\r\n".encode())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"".join(parts))
        return sock.recv(4096)


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) for every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _descendants(pid: int) -> set[tuple[int, str]]:
    """The (pid, start time) of every process below ``pid``."""
    table = _process_table()
    found: set[tuple[int, str]] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, started) in table.items():
            if ppid == parent and (child, started) not in found:
                found.add((child, started))
                frontier.append(child)
    return found


def _still_running(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    table = _process_table()
    return {(pid, started) for pid, started in processes if table.get(pid, (0, ""))[1] == started}


@dataclass
class Stack:
    """One `make run` in a subprocess, its output collected by a thread."""

    folder: Path
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self) -> None:
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, str(STACK)],
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the stack exited early:\n{self.output}"
            try:
                with urllib.request.urlopen(f"{self.api}/health/ready", timeout=3) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        pytest.fail(f"/health/ready never answered 200:\n{self.output}")

    def printed(self, text: str, timeout: float = 15.0) -> bool:
        """Whether a line containing ``text`` is printed within ``timeout`` seconds (output is read
        by another thread, so a line may arrive just after what the test waited for)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the stack did not stop after {sig.name}:\n{self.output}")

    def database(self, name: str) -> psycopg.Connection[tuple[object, ...]]:
        port = self.env["LOCAL_POSTGRES_PORT"]
        return psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/{name}", autocommit=True)


@pytest.fixture
def stack_folder() -> Iterator[Path]:
    """A folder straight under the system temp folder.

    Not pytest's tmp_path: as root the embedded PostgreSQL runs as ``nobody``, which must traverse
    every folder above its data, and pytest closes its base folder to others again whenever
    another pytest run starts.
    """
    folder = Path(tempfile.mkdtemp(prefix="local-stack-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def stack(stack_folder: Path) -> Iterator[Stack]:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES and not k.startswith("BYBIT_")}
    env.update(
        ENVIRONMENT="local",
        LOCAL_POSTGRES_PORT=str(free_port()),
        LOCAL_REDIS_PORT=str(free_port()),
        PORT=str(free_port()),
        API_HOST="127.0.0.1",
        # The simulated exchange on ports of the test's own (the defaults may be taken).
        BYBIT_API_URL=f"http://127.0.0.1:{free_port()}",
        BYBIT_STREAM_URL=f"ws://127.0.0.1:{free_port()}",
        LOG_LEVEL="WARNING",
        WORKER_CONCURRENCY="1",
    )
    env.pop("LOCAL_STACK_DIR", None)
    running = Stack(stack_folder, env)
    yield running
    if running.process is not None and running.process.poll() is None:
        # A failed test still stops the stack in order, so nothing writes into the folder later.
        running.process.terminate()
        try:
            running.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()


def _wait_worker_healthy(stack: Stack) -> None:
    """The worker's own liveness check, against the embedded Redis, until it passes."""
    env = {**stack.env, "REDIS_URL": f"redis://127.0.0.1:{stack.env['LOCAL_REDIS_PORT']}/0"}
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        check = subprocess.run(
            [str(BIN / "worker-service"), "health"], env=env, capture_output=True, text=True, check=False
        )
        if check.returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"the worker never reported healthy:\n{stack.output}")


def _store(stack: Stack, value: str) -> None:
    for name in ("bybit_user", "bybit_general"):
        with stack.database(name) as connection:
            connection.execute("CREATE TABLE local_stack_probe (value text NOT NULL)")
            connection.execute("INSERT INTO local_stack_probe VALUES (%s)", (value,))
    assert _redis(int(stack.env["LOCAL_REDIS_PORT"]), "SET", "local-stack-probe", value) == b"+OK\r\n"


def _read(stack: Stack) -> list[object]:
    values: list[object] = []
    for name in ("bybit_user", "bybit_general"):
        with stack.database(name) as connection:
            row = connection.execute("SELECT value FROM local_stack_probe").fetchone()
            values.append(row[0] if row else None)
    reply = _redis(int(stack.env["LOCAL_REDIS_PORT"]), "GET", "local-stack-probe")
    values.append(reply.split(b"\r\n")[1].decode() if reply.startswith(b"$") else reply)
    return values


def _stop_and_check_everything_is_gone(stack: Stack, sig: signal.Signals) -> None:
    assert stack.process is not None
    children = _descendants(stack.process.pid)
    assert len(children) >= 3, f"expected the servers and services below the stack:\n{stack.output}"
    assert stack.stop(sig) == 0, stack.output
    assert _still_running(children) == set(), stack.output
    for port in ("LOCAL_POSTGRES_PORT", "LOCAL_REDIS_PORT", "PORT"):
        assert not answers(int(stack.env[port])), f"{port} still answers after the stop"
    assert not (stack.folder / ".local" / "stack.pid").read_text().strip()


def _get(stack: Stack, path: str) -> Any:
    with urllib.request.urlopen(f"{stack.api}{path}", timeout=5) as response:
        return json.load(response)


def _newest_candle(stack: Stack) -> str | None:
    items = _get(stack, "/v1/market/klines?category=linear&symbol=BTCUSDT&interval=1&limit=1")["items"]
    return str(items[-1]["start_time"]) if items else None


def _eventually(check: Callable[[], Any], seconds: float, what: str, stack: Stack) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what} within {seconds:g} s:\n{stack.output}")


def _runs_offline_on_the_simulated_exchange(stack: Stack) -> None:
    """Instruments and klines synced, live candles written: all from the simulated exchange."""
    assert stack.printed(f"Bybit: the simulated exchange at {stack.env['BYBIT_API_URL']}"), stack.output
    first = _eventually(lambda: _newest_candle(stack), 60, "no candle stored", stack)
    _eventually(
        lambda: _get(stack, "/v1/market/instruments?category=linear&limit=1")["items"],
        90,
        "no instrument synced",
        stack,
    )
    # /docs and every file it loads come from the api itself (no network needed to read them).
    with urllib.request.urlopen(f"{stack.api}/docs", timeout=5) as response:
        page = response.read().decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page
    for asset in assets:
        assert asset.startswith("/"), asset
        with urllib.request.urlopen(f"{stack.api}{asset}", timeout=5) as response:
            assert response.status == 200, asset
    # The stream writes each candle as it closes (every minute on the exchange's real clock).
    _eventually(lambda: (_newest_candle(stack) or "") > first, 75, "no live candle", stack)
    assert "bybit.com" not in stack.output


@linux_only
@pytest.mark.timeout(500)
def test_make_run_embeds_servers_runs_offline_stops_cleanly_and_keeps_data(stack: Stack) -> None:
    stack.start()
    stack.wait_ready()
    first_line = stack.lines[0]
    assert first_line.startswith("stack | PostgreSQL 18")
    assert first_line.count("embedded on 127.0.0.1:") == 2
    assert stack.printed(f"API at {stack.api}"), stack.output
    _runs_offline_on_the_simulated_exchange(stack)
    with stack.database("bybit_user") as connection:
        assert connection.execute("SELECT to_regclass('alembic_version_user')").fetchone() != (None,)
    with stack.database("bybit_general") as connection:
        assert connection.execute("SELECT to_regclass('alembic_version_general')").fetchone() != (None,)
    master_key = stack.folder / ".local" / "master.key"
    assert master_key.stat().st_mode & 0o777 == 0o600
    _wait_worker_healthy(stack)
    value = secrets.token_hex(8)
    _store(stack, value)

    second = subprocess.run(
        [sys.executable, str(STACK)],
        cwd=stack.folder,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert second.returncode == 1
    assert f"already running (pid {stack.process.pid if stack.process else ''}" in second.stdout

    _stop_and_check_everything_is_gone(stack, signal.SIGINT)

    stack.start()
    stack.wait_ready()
    assert "created database" not in stack.output
    assert "master key: created" not in stack.output
    assert _read(stack) == [value, value, value]
    _stop_and_check_everything_is_gone(stack, signal.SIGTERM)


@pytest.fixture
def local_ports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[int, int]:
    """Free ports as the local PostgreSQL and Redis ports; no server URLs, no .env."""
    monkeypatch.chdir(tmp_path)
    for variable in _SERVER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    ports = free_port(), free_port()
    monkeypatch.setenv("LOCAL_POSTGRES_PORT", str(ports[0]))
    monkeypatch.setenv("LOCAL_REDIS_PORT", str(ports[1]))
    return ports


def test_configured_urls_are_used_and_nothing_is_embedded(local_ports: tuple[int, int]) -> None:
    user, general = "postgresql://app:pw@db.example:5432/users", "postgresql://app:pw@db.example:5432/market"
    plan = plan_servers(
        build_settings(database_url_user=user, database_url_general=general, redis_url="redis://cache:6379/1")
    )
    assert (plan.embed_postgres, plan.embed_redis) == (False, False)
    assert plan.database_url_user == "postgresql+psycopg://app:pw@db.example:5432/users"
    assert plan.redis_url == "redis://cache:6379/1"
    assert plan.postgres_source == "from DATABASE_URL_USER and DATABASE_URL_GENERAL"
    assert plan.redis_source == "from REDIS_URL"


def test_nothing_configured_and_nothing_listening_embeds_both(local_ports: tuple[int, int]) -> None:
    postgres_port, redis_port = local_ports
    plan = plan_servers(build_settings())
    assert (plan.embed_postgres, plan.embed_redis) == (True, True)
    assert plan.database_url_user == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_port}/bybit_user"
    assert (
        plan.database_url_general == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_port}/bybit_general"
    )
    assert plan.redis_url == f"redis://127.0.0.1:{redis_port}/0"
    assert plan.postgres_source == f"embedded on 127.0.0.1:{postgres_port}"


def test_a_server_already_on_the_local_port_is_used(local_ports: tuple[int, int]) -> None:
    postgres_port, _ = local_ports
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", postgres_port))
        listener.listen()
        plan = plan_servers(build_settings())
    assert (plan.embed_postgres, plan.embed_redis) == (False, True)
    assert plan.postgres_source == f"already running on 127.0.0.1:{postgres_port}"


def test_the_local_defaults_written_out_count_as_unset(local_ports: tuple[int, int]) -> None:
    """A copied .env.example names the local defaults: the servers are still embedded when absent."""
    (Path.cwd() / ".env").write_text(
        f"DATABASE_URL_USER={LOCAL_DATABASE_URL_USER}\nREDIS_URL={LOCAL_REDIS_URL}\n"
    )
    plan = plan_servers(build_settings())
    assert (plan.embed_postgres, plan.embed_redis) == (True, True)
    assert plan.redis_url == f"redis://127.0.0.1:{local_ports[1]}/0"


_PROBE = """
import os, socket, psycopg
url = os.environ["TEST_DATABASE_URL"].replace("+psycopg", "")
print(psycopg.connect(url).execute("SELECT 6 * 7").fetchone()[0])
host, port = os.environ["REDIS_URL"].split("//")[1].split("/")[0].split(":")
with socket.create_connection((host, int(port))) as sock:
    sock.sendall(b"PING\\r\\n")
    print(sock.recv(16).decode().strip())
raise SystemExit(7)
"""


def test_test_servers_embeds_both_when_none_answer(local_ports: tuple[int, int], tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"  # where the private servers' folders go, to see them removed
    temporary.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES} | {"TMPDIR": str(temporary)}
    result = subprocess.run(
        [sys.executable, str(STACK), "test-servers", "--", sys.executable, "-c", _PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 7, result.stdout + result.stderr
    assert result.stdout.splitlines()[-2:] == ["42", "+PONG"]
    assert list(temporary.iterdir()) == []  # removed afterwards


def test_test_servers_runs_the_command_as_it_is_when_servers_answer(local_ports: tuple[int, int]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES}
    with socket.socket() as postgres, socket.socket() as redis:
        for listener, port in zip((postgres, redis), local_ports, strict=True):
            listener.bind(("127.0.0.1", port))
            listener.listen()
        result = subprocess.run(
            [
                sys.executable,
                str(STACK),
                "test-servers",
                "--",
                "sh",
                "-c",
                'echo "[$TEST_DATABASE_URL]"; exit 5',
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    assert (result.returncode, result.stdout) == (5, "[]\n")

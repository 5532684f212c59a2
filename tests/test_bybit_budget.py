"""The Bybit call budget shared by every process: two processes, each a client holding the worker's
share of the budget (``worker_service.bybit_budget.sync_budget``, from the settings), call the fake
exchange in its rate-limit mode together; real Redis, real processes.

- Together they stay under the limit the fake announces (it counts every request past it).
- A ban (HTTP 403) met by one pauses both: the fake answers 403 at most once per process, and both
  finish their calls after the pause.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from bybit_client.testing import FakeBybit
from core_config import Settings

SUBJECTS = (
    "packages/bybit-client/src/bybit_client/budget.py",
    "packages/bybit-client/src/bybit_client/redis_budget.py",
    "packages/bybit-client/src/bybit_client/core.py",
    "services/worker/src/worker_service/bybit_budget.py",
)
KLINE = "/v5/market/kline"
# One process: a client with the worker's budget, `calls` klines requests; a 403 is noted and the
# loop goes on, as a task retried would. Prints what it saw as one JSON line. (Not the whole
# worker: its imports take seconds per process on a loaded machine.)
CALLER = """
import json, sys
from redis import Redis
from bybit_client import BybitClient, BybitRateLimitError
from core_config import build_settings, configure_logging
from worker_service.bybit_budget import sync_budget

settings = build_settings()
configure_logging(settings.log_level, json_lines=False)
calls, banned = int(sys.argv[1]), 0
redis = Redis.from_url(settings.redis_url.get_secret_value())
with BybitClient(settings.bybit_api_url, budget=sync_budget(settings, redis)) as client:
    done = 0
    while done < calls:
        try:
            client.klines("linear", "BTCUSDT", "1", limit=5)
            done += 1
        except BybitRateLimitError as error:
            if error.http_status != 403:
                raise
            banned += 1
print(json.dumps({"done": done, "banned": banned}))
"""


@pytest.fixture
def budget_env(worker_settings: Settings, fake_bybit: FakeBybit) -> Iterator[dict[str, str]]:
    """The environment of the two processes: one budget of this test's own, in the shared Redis."""
    prefix = f"test-budget-{uuid.uuid4().hex[:12]}"
    redis_url = worker_settings.redis_url.get_secret_value()
    yield {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "REDIS_URL": redis_url,
        "BYBIT_API_URL": fake_bybit.base_url,
        "BYBIT_BUDGET_PREFIX": prefix,
        "BYBIT_BAN_PAUSE": "2",
    }
    redis = Redis.from_url(redis_url)
    keys = list(redis.scan_iter(match=f"{{{prefix}}}:*"))
    if keys:
        redis.delete(*keys)
    redis.close()


def start_callers(env: dict[str, str], calls: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", CALLER, str(calls)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]


def finish(processes: list[subprocess.Popen[str]]) -> list[tuple[dict[str, int], str]]:
    """Each process's summary and log, once it exited with status 0."""
    results = []
    for process in processes:
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        results.append((json.loads(out.strip().splitlines()[-1]), err))
    return results


def test_two_processes_together_stay_under_the_announced_limit(
    fake_bybit: FakeBybit, budget_env: dict[str, str]
) -> None:
    fake_bybit.limit_rate(4, window_ms=500, ban_after=2, ban_seconds=30)
    results = finish(start_callers(budget_env, 16))
    assert [summary for summary, _ in results] == [{"done": 16, "banned": 0}] * 2
    # Only a request the client sent again (a transport failure on a loaded machine; it logs each
    # retry) may add to the 32.
    retried = sum(log.count("; retry ") for _, log in results)
    assert 32 <= fake_bybit.count(KLINE) <= 32 + retried
    assert fake_bybit.violations == 0  # never past 4 per window, whoever called
    # Each held back for the windows, and said so.
    assert all("for the call budget" in log for _, log in results)


def test_a_ban_met_by_one_process_pauses_both(fake_bybit: FakeBybit, budget_env: dict[str, str]) -> None:
    fake_bybit.delay_seconds = 0.02  # both processes are mid-way when the ban comes
    processes = start_callers(budget_env, 60)
    deadline = time.monotonic() + 60
    while fake_bybit.count(KLINE) < 20:
        assert time.monotonic() < deadline, "the processes made no calls"
        assert all(process.poll() is None for process in processes)
        time.sleep(0.01)
    fake_bybit.ban(1.5)  # shorter than the 2 s everyone pauses for
    results = finish(processes)
    assert [summary["done"] for summary, _ in results] == [60, 60]
    # Each process met the ban at most once (a call of the other's in flight may meet it too);
    # without the shared pause they would have kept calling into it for 1.5 s.
    assert 1 <= fake_bybit.banned_answers <= 2
    assert sum(summary["banned"] for summary, _ in results) == fake_bybit.banned_answers
    # The one that did not meet the ban waited and said so; so did any that did.
    assert all("Bybit banned the address" in log for _, log in results)

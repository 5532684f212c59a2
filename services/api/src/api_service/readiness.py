"""Readiness checks: each dependency probed with a short timeout, concurrent probes coalesced, a
round's result kept for a second.

A dead dependency must answer 503 quickly and must not collect a pile of waiting probes, so all
callers arriving while a round of checks runs share that round's result, and callers within
``max_age`` (1 s) of a finished round get that one: however often readiness is asked, the
dependencies are asked at most once a second. A check past its timeout
is cancelled but not waited for (a driver may take many seconds to confirm a cancel to a server
that stopped answering); until it has stopped, later rounds wait on it instead of starting another.
"""

import asyncio
import math
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from core_config import get_logger

logger = get_logger(__name__)


class CheckFailedError(Exception):
    """A check's own words for what is wrong, safe to show (no URLs, no secrets)."""


Check = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    error: str | None = None


class ReadinessProbe:
    def __init__(
        self,
        checks: Mapping[str, Check],
        timeout: float,
        optional: Collection[str] = (),
        max_age: float = 1.0,
    ) -> None:
        """``optional`` names the checks of what only some routes need: their failure alone
        leaves the service able to serve (``degraded``). A round's result is answered again for
        ``max_age`` seconds after it finished."""
        self._checks = dict(checks)
        self.optional = frozenset(optional)
        self._timeout = timeout
        self._max_age = max_age
        self._round: asyncio.Task[dict[str, CheckResult]] | None = None
        self._finished_at = -math.inf
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> dict[str, CheckResult]:
        """The result of the round in flight, of one finished within ``max_age``, or of a new one."""
        if self._round is None or (
            self._round.done() and time.monotonic() - self._finished_at >= self._max_age
        ):
            self._round = asyncio.create_task(self._run_round())
        return await asyncio.shield(self._round)

    async def _run_round(self) -> dict[str, CheckResult]:
        names = list(self._checks)
        results = dict(
            zip(names, await asyncio.gather(*(self._run_one(name) for name in names)), strict=True)
        )
        self._finished_at = time.monotonic()
        # What anonymous callers are not told is in the log, once per round (at most once a second).
        for name, result in results.items():
            if not result.ok:
                logger.warning("readiness check failed", check=name, error=result.error)
        return results

    def _check_task(self, name: str) -> asyncio.Task[None]:
        task = self._in_flight.get(name)
        if task is None or task.done():
            task = asyncio.create_task(self._checks[name](), name=f"readiness check {name}")
            # An abandoned check's failure is read here, so it is never reported as unretrieved.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._in_flight[name] = task
        return task

    async def _run_one(self, name: str) -> CheckResult:
        started = time.perf_counter()
        task = self._check_task(name)
        error: str | None = None
        await asyncio.wait({task}, timeout=self._timeout)
        if not task.done() or task.cancelled():
            task.cancel()  # left to stop on its own, never waited for
            error = f"no answer within {self._timeout:g} s"
        elif isinstance(failure := task.exception(), CheckFailedError):
            error = str(failure)
        elif failure is not None:  # name its kind, never its text (may hold URLs)
            error = f"unreachable ({type(failure).__name__})"
        latency = round((time.perf_counter() - started) * 1000, 2)
        return CheckResult(ok=error is None, latency_ms=latency, error=error)

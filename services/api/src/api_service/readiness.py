"""Readiness checks: each dependency probed with a short timeout, concurrent probes coalesced.

A dead dependency must answer 503 quickly and must not collect a pile of waiting probes, so all
callers arriving while a round of checks runs share that round's result.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass


class CheckFailedError(Exception):
    """A check's own words for what is wrong, safe to show (no URLs, no secrets)."""


Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    error: str | None = None


class ReadinessProbe:
    def __init__(self, checks: Mapping[str, Check], timeout: float) -> None:
        self._checks = dict(checks)
        self._timeout = timeout
        self._round: asyncio.Task[dict[str, CheckResult]] | None = None

    async def run(self) -> dict[str, CheckResult]:
        """The result of the round in flight, or of a new one."""
        if self._round is None or self._round.done():
            self._round = asyncio.create_task(self._run_round())
        return await asyncio.shield(self._round)

    async def _run_round(self) -> dict[str, CheckResult]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(self._checks[name]) for name in names))
        return dict(zip(names, results, strict=True))

    async def _run_one(self, check: Check) -> CheckResult:
        started = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(self._timeout):
                await check()
        except TimeoutError:
            error = f"no answer within {self._timeout:g} s"
        except CheckFailedError as exc:
            error = str(exc)
        except Exception as exc:  # any other failure: name its kind, never its text (may hold URLs)
            error = f"unreachable ({type(exc).__name__})"
        latency = round((time.perf_counter() - started) * 1000, 2)
        return CheckResult(ok=error is None, latency_ms=latency, error=error)

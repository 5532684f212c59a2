"""Backoff, jitter and rate-limit waits of ``RetryPolicy`` (pure: no sleeping)."""

import random

from bybit_client import (
    BybitAuthError,
    BybitInvalidRequestError,
    BybitRateLimitError,
    BybitTransientError,
    RetryPolicy,
)

POLICY = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5, max_attempts=5, rng=random.Random(7))


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delays = [POLICY.backoff(attempt) for _ in range(50)]
        assert all(ceiling * 0.5 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered


def test_rate_limit_wait_is_never_negative_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_rate_limit_wait=2.0)
    assert 0 <= policy.rate_limit_wait(-5.0, 1) <= 0.1  # reset already past: short backoff
    assert policy.rate_limit_wait(0.7, 1) == 0.7
    assert policy.rate_limit_wait(600.0, 1) == 2.0


def test_only_transient_and_rate_limit_errors_are_retried() -> None:
    def delay(error: Exception, **kw: object) -> float | None:
        args = {"attempt": 1, "elapsed": 0.0, "retry_safe": True, **kw}
        return POLICY.delay_before_retry(error, **args)  # type: ignore[arg-type]

    assert delay(BybitTransientError("x")) is not None
    assert delay(BybitRateLimitError("x", ret_code=10006)) is not None
    assert delay(BybitAuthError("x")) is None
    assert delay(BybitInvalidRequestError("x")) is None
    assert delay(BybitRateLimitError("x", http_status=403)) is None  # an IP ban of minutes
    assert delay(BybitTransientError("x"), retry_safe=False) is None  # outcome unknown, not repeatable
    assert delay(BybitRateLimitError("x", ret_code=10006), retry_safe=False) is not None  # refused: safe
    assert delay(BybitTransientError("x"), attempt=5) is None  # attempts bounded
    assert (
        RetryPolicy(max_total_seconds=1.0).delay_before_retry(
            BybitTransientError("x"), attempt=3, elapsed=0.9, retry_safe=True
        )
        is None
    )  # total time bounded

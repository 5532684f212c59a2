"""Retry policies for tests: the same logic, with delays in milliseconds."""

from bybit_client.retry import RetryPolicy


def fast_retry_policy(
    *,
    max_attempts: int = 4,
    base_delay: float = 0.001,
    max_delay: float = 0.005,
    max_rate_limit_wait: float = 0.3,
) -> RetryPolicy:
    """A ``RetryPolicy`` whose waits are milliseconds, so retry paths run fast under test."""
    return RetryPolicy(
        max_attempts=max_attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        max_rate_limit_wait=max_rate_limit_wait,
    )

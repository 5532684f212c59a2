"""When to send a failed request again, and how long to wait first."""

import random
from dataclasses import dataclass, field

from bybit_client.errors import BybitError, BybitRateLimitError, BybitTransientError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by total time.

    Only transient errors and rate limits are retried. Errors whose outcome is unknown (timeouts,
    5xx) are retried only for calls that are safe to repeat. Rate-limit waits follow the
    ``X-Bapi-Limit-Reset-Timestamp`` header, never negative and never above ``max_rate_limit_wait``.
    """

    max_attempts: int = 4
    max_total_seconds: float = 30.0
    base_delay: float = 0.25
    max_delay: float = 8.0
    jitter: float = 0.5
    max_rate_limit_wait: float = 10.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based): base * 2^(n-1), minus up to jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return float(ceiling * (1 - self.jitter * self.rng.random()))

    def rate_limit_wait(self, until_reset: float | None, attempt: int) -> float:
        """Wait until the reset (clamped to [0, cap]); a reset already past falls back to backoff."""
        if until_reset is None or until_reset <= 0:
            return min(self.backoff(attempt), self.max_rate_limit_wait)
        return min(until_reset, self.max_rate_limit_wait)

    def delay_before_retry(
        self,
        error: BybitError,
        *,
        attempt: int,
        elapsed: float,
        retry_safe: bool,
        until_reset: float | None = None,
    ) -> float | None:
        """Seconds to wait before sending again, or None to give up and raise ``error``."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if isinstance(error, BybitTransientError) and not retry_safe:
            return None
        if isinstance(error, BybitRateLimitError):
            delay = self.rate_limit_wait(until_reset, attempt)
        else:
            delay = self.backoff(attempt)
        if elapsed + delay > self.max_total_seconds:
            return None
        return delay

"""The error hierarchy, mapped from Bybit's retCode and HTTP status. No error ever carries a secret."""

from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10008, 10009, 10010, 10027})
RATE_LIMIT_CODES = frozenset({10006, 10018})
TIME_WINDOW_CODES = frozenset({10002})
TRANSIENT_CODES = frozenset({10000, 10016})


class ErrorDetails(TypedDict, total=False):
    """Where and how a call failed: the keywords every ``BybitError`` takes."""

    ret_code: int | None
    endpoint: str
    http_status: int | None


class BybitError(Exception):
    """A failed call. ``retryable`` says whether the same request may succeed if sent again later."""

    retryable = False

    def __init__(self, ret_msg: str, **details: Unpack[ErrorDetails]) -> None:
        self.ret_code = details.get("ret_code")
        self.ret_msg = ret_msg
        self.endpoint = details.get("endpoint", "")
        self.http_status = details.get("http_status")
        super().__init__(str(self))

    def __str__(self) -> str:
        code = f"retCode {self.ret_code}" if self.ret_code is not None else "no retCode"
        status = f", HTTP {self.http_status}" if self.http_status is not None else ""
        return f"{self.endpoint}: {code}{status}: {self.ret_msg}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class BybitAuthError(BybitError):
    """The key, signature, permission or IP binding was refused (10003, 10004, 10005, 10007, 10010, 401)."""


class BybitRateLimitError(BybitError):
    """Too many requests (10006, 10018, HTTP 429 and 403). ``reset_at`` is when the limit resets."""

    retryable = True

    def __init__(
        self, ret_msg: str, *, reset_at: datetime | None = None, **details: Unpack[ErrorDetails]
    ) -> None:
        self.reset_at = reset_at
        super().__init__(ret_msg, **details)
        # HTTP 403 is an IP ban for minutes ("access too frequent"): retrying soon only extends it.
        self.retryable = self.http_status != 403


class BybitBudgetError(BybitRateLimitError):
    """The call budget holds calls for longer than this client may wait (``BudgetPolicy.max_wait``):
    nothing was sent. ``retry_after`` is how many seconds until the budget may let it go."""

    def __init__(self, reason: str, *, endpoint: str = "", retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"the call budget holds calls for {retry_after:.1f} s: {reason}",
            endpoint=endpoint,
            reset_at=datetime.now(UTC) + timedelta(seconds=retry_after),
        )


class BybitTimeWindowError(BybitError):
    """The timestamp fell outside recv_window (10002): the local clock drifted from Bybit's."""


class BybitInvalidRequestError(BybitError):
    """The request itself is wrong (10001, 10029, 110xxx, HTTP 400/404, ...): sending it again won't help."""


class BybitTransientError(BybitError):
    """Bybit or the network failed (10000, 10016, 5xx, timeouts, malformed JSON): may succeed later."""

    retryable = True


def error_for_ret_code(ret_code: int) -> type[BybitError]:
    """The error class of a non-zero retCode."""
    if ret_code in AUTH_CODES:
        return BybitAuthError
    if ret_code in RATE_LIMIT_CODES:
        return BybitRateLimitError
    if ret_code in TIME_WINDOW_CODES:
        return BybitTimeWindowError
    if ret_code in TRANSIENT_CODES:
        return BybitTransientError
    return BybitInvalidRequestError


def error_for_http_status(status: int) -> type[BybitError]:
    """The error class of a non-200 HTTP status."""
    if status == 401:
        return BybitAuthError
    if status in (403, 429):
        return BybitRateLimitError
    if status in (400, 404, 405):
        return BybitInvalidRequestError
    return BybitTransientError


class BybitStreamError(BybitError):
    """A WebSocket stream answered ``success: false`` or broke its own protocol."""


class BybitStreamAuthError(BybitAuthError):
    """The private stream refused the login (wrong key, wrong signature, expired): not retried."""


class BybitSubscriptionError(BybitStreamError):
    """A subscribe or unsubscribe request was refused; ``topics`` are the ones asked for."""

    def __init__(self, ret_msg: str, *, topics: tuple[str, ...], endpoint: str = "") -> None:
        self.topics = topics
        super().__init__(ret_msg, endpoint=endpoint)


class OrderBookGapError(BybitStreamError):
    """An order book delta did not follow the previous update: the local book can no longer be trusted."""

    def __init__(self, topic: str, expected: int | None, received: int) -> None:
        self.topic = topic
        self.expected = expected
        self.received = received
        super().__init__(f"order book update {received} where {expected} was expected", endpoint=topic)

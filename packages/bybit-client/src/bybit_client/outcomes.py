"""What an order call proves: accepted, rejected, or unknown, and which answers prove what.

- **accepted**: Bybit answered retCode 0 (or, for a create, refused a repeated ``orderLinkId``
  whose order the lookup then found: an earlier attempt placed it).
- **rejected**: Bybit said no with a retCode that proves nothing was done (a rule, the balance, the
  key, the signature...). The code and message are kept.
- **unknown**: no answer (timeout, reset), a 5xx or 429/403 from the gateway, a malformed answer,
  or a retCode that does not prove refusal (``UNPROVEN_CODES``: Bybit timed out, failed, was
  restarting or throttled). The request may have been carried out: never report it as a failure;
  look the order up by its ``orderLinkId`` (``find_order``) or send the same create again (the id
  cannot place twice).

A refusal that follows an attempt whose outcome was unknown proves nothing either (the earlier
attempt may have placed the order, and this refusal may stem from it): the outcome stays unknown.
"""

from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from bybit_client.errors import BybitError, BybitTransientError

T = TypeVar("T")

# retCodes that do not prove a request was refused: timeouts, internal errors, restarts, throttling
# (docs/v5/error.mdx: UTA and spot trade codes).
UNPROVEN_CODES = frozenset(
    {
        10000,  # server timeout
        10006,  # too many visits
        10016,  # internal error, service restarting
        10018,  # IP rate limit
        10019,  # trade service restarting
        10429,  # system-level frequency protection
        110079,  # the order is processing
        170001,  # internal error
        170007,  # timeout waiting for the backend
        170032,  # network error
        170035,  # submitted to the system for processing
        170146,  # order creation timeout
        170147,  # order cancellation timeout
        170234,  # system error
        3400214,  # server error
    }
)
# A create refused because its orderLinkId is taken: an order with that id exists already.
DUPLICATE_CODES = frozenset({110072, 170141})
# Answers of the gateway that prove the request went no further (bad method, auth, unknown path).
_REFUSING_HTTP_STATUSES = frozenset({400, 401, 404, 405})


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


def outcome_of_code(ret_code: int) -> Outcome:
    """What a non-zero retCode proves of the request it answers."""
    return Outcome.UNKNOWN if ret_code in UNPROVEN_CODES else Outcome.REJECTED


def outcome_of_error(error: BybitError) -> Outcome:
    """What one failed attempt proves of the request it was."""
    if isinstance(error, BybitTransientError):
        return Outcome.UNKNOWN
    if error.ret_code == 0:
        return Outcome.UNKNOWN  # Bybit said OK, but the answer could not be read
    if error.ret_code is not None:
        return outcome_of_code(error.ret_code)
    return Outcome.REJECTED if error.http_status in _REFUSING_HTTP_STATUSES else Outcome.UNKNOWN


class OrderOutcome(BaseModel, Generic[T]):
    """The outcome of one order request (create, amend, cancel, cancel-all, or one batch item).

    ``order_link_id`` and ``order_id`` are the request's (or the answer's) ids: an unknown outcome
    is resolved by looking the order up by them. ``ret_code`` and ``ret_msg`` are Bybit's answer
    (None and the failure's description when there was none). ``repeated``: Bybit refused a create
    as a duplicate and the order reported is the one an earlier attempt placed. ``result`` is
    Bybit's acknowledgement when accepted.
    """

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    order_id: str | None = None
    order_link_id: str | None = None
    ret_code: int | None = None
    ret_msg: str = ""
    repeated: bool = False
    result: T | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def rejected(self) -> bool:
        return self.outcome is Outcome.REJECTED

    @property
    def unknown(self) -> bool:
        return self.outcome is Outcome.UNKNOWN

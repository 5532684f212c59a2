"""The REST faults the fake exchange plays, and which request plays which.

``Fault`` names each fault; a ``FaultPlan`` holds what tests asked for: the next ``n`` requests (to
one path, of one API key, or any) fail as a kind (``fail_next``), and from now on a share of the
requests fail as each kind (``set_rates``), drawn from a seeded generator so a run repeats.
"""

import random
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    """What a request that plays a fault gets. "Processed" means the exchange carried it out."""

    CLOCK_SKEW = "clock_skew"  # retCode 10002, not processed
    RATE_LIMIT_RESET_PAST = "rate_limit_reset_past"  # retCode 10006, reset header already past
    RATE_LIMIT_RESET_FUTURE = "rate_limit_reset_future"  # retCode 10006, reset header ahead
    HTTP_403 = "http_403"  # IP rate limit breached ("access too frequent")
    HTTP_429 = "http_429"  # system protection
    HTTP_5XX = "http_5xx"  # 502 from the gateway, not processed
    SERVER_TIMEOUT = "server_timeout"  # retCode 10000, not processed
    SLOW = "slow"  # held ``slow_seconds`` (past a client's timeout), then processed: it lands late
    MALFORMED_JSON = "malformed_json"
    LOST_ANSWER = "lost_answer"  # processed at once; the answer held ``slow_seconds`` (a timeout)
    TIMEOUT_BEFORE = "timeout_before"  # held ``slow_seconds``, then dropped: never processed
    RESET = "reset"  # the connection cut before the request is processed
    RESET_AFTER_ACCEPT = "reset_after_accept"  # processed, then the connection cut mid-answer

    @property
    def processes(self) -> bool:
        """Whether the exchange carries the request out before the fault plays."""
        return self in (Fault.SLOW, Fault.LOST_ANSWER, Fault.RESET_AFTER_ACCEPT)


@dataclass(frozen=True)
class _Rates:
    rates: tuple[tuple[Fault, float], ...]
    path: str | None
    api_key: str | None


def _applies(path_wanted: str | None, key_wanted: str | None, path: str, api_key: str | None) -> bool:
    return path_wanted in (None, path) and key_wanted in (None, api_key)


class FaultPlan:
    """The faults asked for; ``take`` says which one a request plays (None: none)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._next: deque[tuple[Fault, str | None, str | None]] = deque()
        self._rates: list[_Rates] = []
        self._random = random.Random(seed)  # noqa: S311 - fault draws, not secrets

    def fail_next(self, n: int, kind: Fault | str, path: str | None, api_key: str | None) -> None:
        with self._lock:
            self._next.extend([(Fault(kind), path, api_key)] * n)

    def set_rates(self, rates: Mapping[Fault | str, float], path: str | None, api_key: str | None) -> None:
        """From now on a request to ``path`` of ``api_key`` (None: any) fails as each kind with its
        probability (they add up to at most 1); replaces the rates set for the same path and key."""
        chosen = tuple((Fault(kind), float(share)) for kind, share in rates.items() if share > 0)
        if sum(share for _, share in chosen) > 1:
            raise ValueError("the fault rates add up to more than 1")
        with self._lock:
            self._rates = [rule for rule in self._rates if (rule.path, rule.api_key) != (path, api_key)]
            if chosen:
                self._rates.append(_Rates(chosen, path, api_key))

    @property
    def pending(self) -> int:
        return len(self._next)

    def clear(self) -> None:
        """Forget every fault asked for, pending ones and rates: the exchange answers normally again."""
        with self._lock:
            self._next.clear()
            self._rates.clear()

    def take(self, path: str, api_key: str | None) -> Fault | None:
        with self._lock:
            for index, (kind, only_path, only_key) in enumerate(self._next):
                if _applies(only_path, only_key, path, api_key):
                    del self._next[index]
                    return kind
            # The most specific rule that applies decides (a key's and path's before a key's alone).
            for rule in sorted(self._rates, key=lambda rule: (rule.api_key is None, rule.path is None)):
                if _applies(rule.path, rule.api_key, path, api_key):
                    draw = self._random.random()
                    for kind, share in rule.rates:
                        if draw < share:
                            return kind
                        draw -= share
                    return None
        return None

"""The outbound call budget: how many calls Bybit will still take, for every client that holds it.

Bybit limits calls per endpoint (per account for signed ones) and per IP address (600 per 5 s);
each answer of a limited endpoint states the limit, what is left of it and when its window resets
(``X-Bapi-Limit``, ``X-Bapi-Limit-Status``, ``X-Bapi-Limit-Reset-Timestamp``); an address that
keeps going is answered HTTP 403 "access too frequent" and banned for minutes. So a client asks
its budget before each call (``admit``) and tells it what each answer said (``observe``, or
``pause`` after a ban): the budget opens a window per endpoint group from the headers (an
account's order and query endpoints from Bybit's documented default until an answer states the
account's own, ``uid_limits``), counts the
calls it lets through against what Bybit said is left, and counts every call against the
address's own limit. A ban stops every holder of the budget for ``ban_seconds``.

``LocalBudget`` keeps this in the process (each client gets one unless given another); give
several clients one budget to make them share it. ``bybit_client.redis_budget`` keeps the same
budget in Redis for every process of a service (extra ``redis``). Waits are relative durations,
never clock readings, so processes need not agree on the time.
"""

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from bybit_client.uid_limits import default_limit

# Bybit's limit per IP address is 600 requests per 5 s window, every endpoint together.
IP_WINDOW_SECONDS = 5.0
# Bybit says "access too frequent" (HTTP 403) means: stop and wait 10 minutes.
BAN_SECONDS = 600.0
# A window opened before Bybit stated its reset lasts this long (Bybit's endpoint windows are 1 s).
GUESSED_WINDOW_SECONDS = 1.0
# A window opened from a learnt limit keeps a tenth of it back: calls sent just before a reset may
# reach Bybit just after it and count in the new window.
RESERVE_SHARE = 10
# A window ends this long after the reset Bybit stated: our clock may run a little ahead of Bybit's.
RESET_MARGIN_SECONDS = 0.05
# A limit learnt from the headers is remembered this long after the last answer that stated it.
LIMIT_MEMORY_SECONDS = 3600.0
# The group every call counts against besides its own: the address.
IP_GROUP = "ip"


def account_default(group: str) -> int | None:
    """The limit a group of one account's calls (``path#key``) starts from before an answer states
    it: Bybit's documented default (``uid_limits``); None for the groups of unsigned calls."""
    path, signed, _ = group.partition("#")
    return default_limit(path) if signed else None


@dataclass(frozen=True, slots=True)
class LimitSeen:
    """What an answer said of its endpoint's limit: ``remaining`` of ``limit`` calls until the window
    resets, ``reset_in`` seconds from now (already translated from Bybit's clock)."""

    limit: int
    remaining: int
    reset_in: float


@dataclass(frozen=True, slots=True)
class Hold:
    """A call may not go yet: ask again in ``seconds``; ``reason`` says why (for the logs)."""

    seconds: float
    reason: str


@dataclass(frozen=True)
class BudgetPolicy:
    """The numbers a budget works with, the same for every holder of one budget.

    ``ip_limit`` calls per ``ip_window`` seconds from the whole address (keep it under Bybit's 600
    per 5 s: other programs may share the address; None: no limit of our own, for a fake exchange
    in benchmarks); ``ban_seconds`` every holder stops after a 403;
    ``max_wait`` seconds a call may wait for the budget before it fails with ``BybitBudgetError``
    (this holder's choice: a request handler fails fast, a background job waits).
    """

    ip_limit: int | None = 500
    ip_window: float = IP_WINDOW_SECONDS
    ban_seconds: float = BAN_SECONDS
    max_wait: float = 10.0

    def __post_init__(self) -> None:
        if self.ip_limit is not None and self.ip_limit < 1:
            raise ValueError("ip_limit must be positive")
        if self.ip_window <= 0 or self.ban_seconds <= 0 or self.max_wait < 0:
            raise ValueError("ip_window and ban_seconds must be positive, max_wait not negative")


class CallBudget(Protocol):
    """The budget a blocking client consults; its methods must be safe to call from any thread."""

    policy: BudgetPolicy

    def admit(self, group: str) -> Hold | None:
        """Take one call of ``group`` (and of the address): None when it may go now; a ``Hold``,
        with nothing taken, when it must wait."""

    def observe(self, group: str, seen: LimitSeen) -> None:
        """An answer to a call of ``group`` stated its limit."""

    def pause(self, seconds: float, reason: str) -> None:
        """Stop every call of every holder for ``seconds`` (an IP ban); a longer pause stays."""


class AsyncCallBudget(Protocol):
    """``CallBudget`` for the asyncio client."""

    policy: BudgetPolicy

    async def admit(self, group: str) -> Hold | None:
        """As ``CallBudget.admit``."""

    async def observe(self, group: str, seen: LimitSeen) -> None:
        """As ``CallBudget.observe``."""

    async def pause(self, seconds: float, reason: str) -> None:
        """As ``CallBudget.pause``."""


@dataclass
class _Window:
    remaining: int
    ends: float  # monotonic seconds


class LocalBudget:
    """The budget of one process, in memory (thread-safe; never blocks on I/O, so asyncio code may
    hold it too through ``AsyncLocalBudget``)."""

    def __init__(self, policy: BudgetPolicy | None = None) -> None:
        self.policy = policy or BudgetPolicy()
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._limits: dict[str, tuple[int, float]] = {}  # group -> (limit, forget after)
        self._paused_until = 0.0
        self._pause_reason = ""

    def admit(self, group: str) -> Hold | None:
        now = time.monotonic()
        with self._lock:
            if self._paused_until > now:
                return Hold(self._paused_until - now, self._pause_reason)
            ip = self._window(IP_GROUP, now, self.policy.ip_limit, self.policy.ip_window)
            if ip is not None and ip.remaining <= 0:
                return Hold(ip.ends - now, "the address's own limit is spent for this window")
            known = self._limits.get(group)
            limit = known[0] if known is not None and known[1] > now else account_default(group)
            opening = None if limit is None else limit - limit // RESERVE_SHARE
            window = self._window(group, now, opening, GUESSED_WINDOW_SECONDS)
            if window is not None and window.remaining <= 0:
                return Hold(window.ends - now, f"Bybit's limit of {group} is spent for this window")
            for taken in (ip, window):
                if taken is not None:
                    taken.remaining -= 1
        return None

    def _window(self, group: str, now: float, limit: int | None, length: float) -> _Window | None:
        window = self._windows.get(group)
        if window is not None and window.ends > now:
            return window
        if limit is None:
            self._windows.pop(group, None)
            return None
        window = self._windows[group] = _Window(limit, now + length)
        return window

    def observe(self, group: str, seen: LimitSeen) -> None:
        now = time.monotonic()
        with self._lock:
            if seen.limit > 0:
                self._limits[group] = (seen.limit, now + LIMIT_MEMORY_SECONDS)
            if seen.reset_in <= 0:
                return  # that window is over already
            ends = now + seen.reset_in + RESET_MARGIN_SECONDS
            window = self._windows.get(group)
            if window is None or window.ends <= now:
                self._windows[group] = _Window(seen.remaining, ends)
            else:
                # Calls let through but not yet answered are in our count, not in Bybit's: keep the lower.
                window.remaining = min(window.remaining, seen.remaining)
                window.ends = max(window.ends, ends)
            if len(self._windows) > 10_000:  # bounded: drop the windows that are over
                self._windows = {g: w for g, w in self._windows.items() if w.ends > now}
                self._limits = {g: v for g, v in self._limits.items() if v[1] > now}

    def pause(self, seconds: float, reason: str) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self._pause_reason = reason


class AsyncLocalBudget:
    """A ``LocalBudget`` for the asyncio client (the same memory; no I/O, so nothing is awaited)."""

    def __init__(self, local: LocalBudget | None = None) -> None:
        self.local = local or LocalBudget()
        self.policy = self.local.policy

    async def admit(self, group: str) -> Hold | None:
        return self.local.admit(group)

    async def observe(self, group: str, seen: LimitSeen) -> None:
        self.local.observe(group, seen)

    async def pause(self, seconds: float, reason: str) -> None:
        self.local.pause(seconds, reason)

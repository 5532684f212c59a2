"""The call budget kept in Redis, shared by every process that names the same Redis and prefix
(extra ``redis``): ``RedisBudget`` for the blocking client, ``AsyncRedisBudget`` for asyncio.

The rules are ``bybit_client.budget``'s, each step one Lua script, so a decision and what it takes
are one atomic round trip whatever the number of processes. Every key expires: a window when it
ends, a learnt limit an hour after the last answer that stated it, the pause when it is over; so
the keys in Redis are bounded by the groups called in the last hour. Durations only, never clock
readings: Redis's own expiry times the windows, so the processes need not agree on the time.

When Redis does not answer, the process goes on with its own ``LocalBudget`` (what it has seen
itself still holds it back), asks Redis again after 5 seconds, and logs a warning at most every 30
seconds; so a Redis outage costs each call one timeout at most every 5 seconds, not one per call.
"""

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from bybit_client.budget import (
    GUESSED_WINDOW_SECONDS,
    IP_GROUP,
    LIMIT_MEMORY_SECONDS,
    RESET_MARGIN_SECONDS,
    BudgetPolicy,
    Hold,
    LimitSeen,
    LocalBudget,
    account_default,
)

if TYPE_CHECKING:
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

log = logging.getLogger("bybit_client")
_WARN_EVERY = 30.0
_RETRY_REDIS_AFTER = 5.0

# KEYS: pause, the address's window, the group's window, the group's limit.
# ARGV: the address's limit (0: none), its window (ms), the length of a window opened before Bybit
# stated one (ms), the group's limit when none was learnt (0: none; Bybit's documented default).
# A window opened from a learnt limit keeps a tenth of it back (budget.RESERVE_SHARE).
# Returns {0, ""} when the call may go (one taken from each window), else {ms to wait, why}.
ADMIT = """
-- An open window's count and the ms it has left, else false. Redis keeps a key through the
-- millisecond its expiry falls in, answering PTTL 0: that window is over (as OBSERVE and LocalBudget
-- have it), so the call that goes then opens the next window and counts in it instead of in the
-- one that ends. PTTL is read once: before Redis 7 a script's clock moves, and a second reading
-- could say 0 where the first said 1.
local function open(key)
  local count = redis.call('GET', key)
  if not count then return false, 0 end
  local left = redis.call('PTTL', key)
  if left > 0 then return tonumber(count), left end
  return false, 0
end
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {paused, redis.call('GET', KEYS[1]) or 'paused'} end
local ip_limit = tonumber(ARGV[1])
local ip, ip_left = false, 0
if ip_limit > 0 then ip, ip_left = open(KEYS[2]) end
if ip and ip <= 0 then return {ip_left, 'ip'} end
local window, window_left = open(KEYS[3])
if window and window <= 0 then return {window_left, 'group'} end
if ip then
  redis.call('DECR', KEYS[2])
elseif ip_limit > 0 then
  redis.call('SET', KEYS[2], ip_limit - 1, 'PX', ARGV[2])
end
if window then
  redis.call('DECR', KEYS[3])
else
  local limit = redis.call('GET', KEYS[4])
  if not limit and tonumber(ARGV[4]) > 0 then limit = ARGV[4] end
  if limit then
    limit = tonumber(limit)
    redis.call('SET', KEYS[3], limit - math.floor(limit / 10) - 1, 'PX', ARGV[3])
  end
end
return {0, ''}
"""

# KEYS: the group's window, the group's limit. ARGV: limit, remaining, ms until the reset (margin
# included), ms a limit is remembered. Calls let through but not yet answered are in our count,
# not in Bybit's: of the two, the lower remaining and the later end stay.
OBSERVE = """
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4]) end
local reset_in = tonumber(ARGV[3])
if reset_in <= 0 then return 0 end
local current = redis.call('GET', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current and ttl > 0 then
  redis.call('SET', KEYS[1], math.min(tonumber(current), tonumber(ARGV[2])), 'PX', math.max(ttl, reset_in))
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', reset_in)
end
return 1
"""

# KEYS: pause. ARGV: ms, reason. A longer pause already set stays.
PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
end
return 1
"""

_FAILURES = (RedisError, OSError, TimeoutError)


class _Shared:
    """Key names, script arguments and the fallback, the same for both kinds of Redis client."""

    def __init__(self, policy: BudgetPolicy | None, prefix: str) -> None:
        self.policy = policy or BudgetPolicy()
        # One hash tag: every key of a budget lives in one Redis Cluster slot, as a script needs.
        self._prefix = "{" + prefix + "}"
        self._ip_args = (
            self.policy.ip_limit or 0,
            math.ceil(self.policy.ip_window * 1000),
            math.ceil(GUESSED_WINDOW_SECONDS * 1000),
        )
        self.fallback = LocalBudget(self.policy)
        self._warned_at = -math.inf
        self._away_until = -math.inf

    @property
    def redis_away(self) -> bool:
        """Whether Redis failed in the last few seconds (the fallback answers meanwhile)."""
        return time.monotonic() < self._away_until

    @property
    def pause_key(self) -> str:
        return f"{self._prefix}:pause"

    def admit_keys(self, group: str) -> list[str]:
        p = self._prefix
        return [f"{p}:pause", f"{p}:window:{IP_GROUP}", f"{p}:window:{group}", f"{p}:limit:{group}"]

    def admit_args(self, group: str) -> tuple[int, int, int, int]:
        return (*self._ip_args, account_default(group) or 0)

    def observe_keys(self, group: str) -> list[str]:
        return [f"{self._prefix}:window:{group}", f"{self._prefix}:limit:{group}"]

    @staticmethod
    def observe_args(seen: LimitSeen) -> tuple[int, int, int, int]:
        reset_in = math.ceil((seen.reset_in + RESET_MARGIN_SECONDS) * 1000) if seen.reset_in > 0 else 0
        return seen.limit, max(0, seen.remaining), reset_in, math.ceil(LIMIT_MEMORY_SECONDS * 1000)

    @staticmethod
    def hold(answer: Any, group: str) -> Hold | None:
        wait_ms, reason = int(answer[0]), answer[1]
        if wait_ms <= 0:
            return None
        text = reason.decode() if isinstance(reason, bytes) else str(reason)
        if text == "ip":
            text = "the address's own limit is spent for this window"
        elif text == "group":
            text = f"Bybit's limit of {group} is spent for this window"
        return Hold(wait_ms / 1000, text)

    def redis_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._away_until = now + _RETRY_REDIS_AFTER
        if now - self._warned_at > _WARN_EVERY:
            self._warned_at = now
            log.warning(
                "Bybit call budget: Redis did not answer (%s); this process keeps its own budget meanwhile",
                type(exc).__name__,
            )


class RedisBudget(_Shared):
    """The shared budget for blocking clients, on a ``redis.Redis`` (safe to share between threads)."""

    def __init__(self, redis: "Redis", *, prefix: str = "bybit-budget", policy: BudgetPolicy | None = None):
        super().__init__(policy, prefix)
        self._admit = redis.register_script(ADMIT)
        self._observe = redis.register_script(OBSERVE)
        self._pause = redis.register_script(PAUSE)

    def admit(self, group: str) -> Hold | None:
        if self.redis_away:
            return self.fallback.admit(group)
        try:
            return self.hold(self._admit(self.admit_keys(group), self.admit_args(group)), group)
        except _FAILURES as exc:
            self.redis_failed(exc)
            return self.fallback.admit(group)

    def observe(self, group: str, seen: LimitSeen) -> None:
        self.fallback.observe(group, seen)
        if self.redis_away:
            return
        try:
            self._observe(self.observe_keys(group), self.observe_args(seen))
        except _FAILURES as exc:
            self.redis_failed(exc)

    def pause(self, seconds: float, reason: str) -> None:
        self.fallback.pause(seconds, reason)
        log.warning("Bybit call budget: every process pauses for %.0f s: %s", seconds, reason)
        try:
            self._pause([self.pause_key], (math.ceil(seconds * 1000), reason))
        except _FAILURES as exc:
            self.redis_failed(exc)


class AsyncRedisBudget(_Shared):
    """The shared budget for asyncio clients, on a ``redis.asyncio.Redis``."""

    def __init__(
        self, redis: "AsyncRedis", *, prefix: str = "bybit-budget", policy: BudgetPolicy | None = None
    ):
        super().__init__(policy, prefix)
        self._admit = redis.register_script(ADMIT)
        self._observe = redis.register_script(OBSERVE)
        self._pause = redis.register_script(PAUSE)

    async def admit(self, group: str) -> Hold | None:
        if self.redis_away:
            return self.fallback.admit(group)
        try:
            return self.hold(await self._admit(self.admit_keys(group), self.admit_args(group)), group)
        except _FAILURES as exc:
            self.redis_failed(exc)
            return self.fallback.admit(group)

    async def observe(self, group: str, seen: LimitSeen) -> None:
        self.fallback.observe(group, seen)
        if self.redis_away:
            return
        try:
            await self._observe(self.observe_keys(group), self.observe_args(seen))
        except _FAILURES as exc:
            self.redis_failed(exc)

    async def pause(self, seconds: float, reason: str) -> None:
        self.fallback.pause(seconds, reason)
        log.warning("Bybit call budget: every process pauses for %.0f s: %s", seconds, reason)
        try:
            await self._pause([self.pause_key], (math.ceil(seconds * 1000), reason))
        except _FAILURES as exc:
            self.redis_failed(exc)

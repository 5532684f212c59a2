"""The worker's share of the Bybit call budget, kept in Redis with the api's (``bybit_client.redis_budget``).

A sync waits for the budget up to ``SYNC_BUDGET_WAIT`` seconds (a window about to reset), logging
each wait; a longer hold (a ban pauses every process for ``BYBIT_BAN_PAUSE``) fails the chunk with
``BybitBudgetError``, and its task is retried by Celery when the budget allows, not as a failed
attempt (``tasks``: the ban is waited out), so the worker is free meanwhile and nothing is sent to
Bybit. The stream's REST backfill waits up to
``STREAM_BUDGET_WAIT`` seconds, then tries again later as after any failed backfill.
"""

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bybit_client import BudgetPolicy
from bybit_client.redis_budget import AsyncRedisBudget, RedisBudget
from core_config import Settings

SYNC_BUDGET_WAIT = 10.0
STREAM_BUDGET_WAIT = 30.0


def budget_policy(settings: Settings, max_wait: float) -> BudgetPolicy:
    return BudgetPolicy(
        ip_limit=settings.bybit_ip_budget, ban_seconds=settings.bybit_ban_pause, max_wait=max_wait
    )


def sync_budget(settings: Settings, redis: Redis) -> RedisBudget:
    """The budget of the sync tasks of this process."""
    policy = budget_policy(settings, SYNC_BUDGET_WAIT)
    return RedisBudget(redis, prefix=settings.bybit_budget_prefix, policy=policy)


def stream_budget(settings: Settings, redis: AsyncRedis) -> AsyncRedisBudget:
    """The budget of the stream's REST backfill."""
    policy = budget_policy(settings, STREAM_BUDGET_WAIT)
    return AsyncRedisBudget(redis, prefix=settings.bybit_budget_prefix, policy=policy)

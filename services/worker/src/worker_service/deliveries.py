"""Poison messages: a task whose worker keeps dying under it is set aside after a few tries.

Each run of a task counts one delivery of its id in Redis before it starts and forgets it when it
ends, however it ends (success, failure, retry, next chunk). A count left behind means a worker
died mid-run. When a task arrives with ``WORKER_MAX_DELIVERIES`` such deaths behind it, it is not
run again: its message goes to the queue's dead-letter list (``worker:<queue>:dead-letter``),
its ``sync_runs`` row is closed as failed saying so, and an error line is logged. The task id is
remembered as set aside: a copy of its message that comes later (a redelivery, an earlier chunk's
message put back) is not run either.
"""

import json
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from core_config import get_logger

logger = get_logger(__name__)
# Long after any redelivery: only a task never delivered again leaves its count behind, and a copy
# of a task set aside comes back within it if at all.
COUNT_TTL_SECONDS = 86_400


def dead_letter_key(queue: str) -> str:
    return f"worker:{queue}:dead-letter"


def _count_key(queue: str, task_id: str) -> str:
    return f"worker:{queue}:deliveries:{task_id}"


def _set_aside_key(queue: str, task_id: str) -> str:
    return f"worker:{queue}:set-aside:{task_id}"


class DeliveryLedger:
    """Counts the unfinished runs of each task id, and keeps the dead-letter list."""

    def __init__(self, redis: Redis, queue: str) -> None:
        self._redis = redis
        self._queue = queue

    def begin(self, task_id: str) -> int:
        """Count this delivery; return how many runs of the task died before it (0 normally).

        Redis failing here must not stop the task: it then runs uncounted.
        """
        key = _count_key(self._queue, task_id)
        try:
            pipe = self._redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, COUNT_TTL_SECONDS)
            count, _ = pipe.execute()
        except RedisError as exc:
            logger.warning("delivery not counted", error=str(exc))
            return 0
        return int(count) - 1

    def end(self, task_id: str) -> None:
        try:
            self._redis.delete(_count_key(self._queue, task_id))
        except RedisError as exc:
            logger.warning("delivery count not cleared", error=str(exc))

    def set_aside_after(self, task_id: str) -> int | None:
        """The worker deaths the task was set aside after, or None when it was not set aside.

        Redis failing here must not stop the task: it then runs as one not set aside.
        """
        try:
            deaths = self._redis.get(_set_aside_key(self._queue, task_id))
        except RedisError as exc:
            logger.warning("set-aside mark not read", error=str(exc))
            return None
        return None if deaths is None else int(deaths)

    def set_aside(self, task_id: str, name: str, kwargs: dict[str, Any], deaths: int) -> None:
        """Put the task on the dead-letter list, mark it set aside and forget its count."""
        record = {
            "task_id": task_id,
            "task": name,
            "kwargs": kwargs,
            "worker_deaths": deaths,
            "set_aside_at": datetime.now(UTC).isoformat(),
        }
        pipe = self._redis.pipeline()
        pipe.rpush(dead_letter_key(self._queue), json.dumps(record, default=str))
        pipe.set(_set_aside_key(self._queue, task_id), deaths, ex=COUNT_TTL_SECONDS)
        pipe.delete(_count_key(self._queue, task_id))
        pipe.execute()

    def dead_letters(self) -> list[dict[str, Any]]:
        """The tasks set aside, oldest first."""
        return [json.loads(item) for item in self._redis.lrange(dead_letter_key(self._queue), 0, -1)]

"""Sending sync tasks to the worker and reading their state, through Redis.

The API does not import the worker: it sends tasks by the names and arguments of the contract in
``db_general.task_contract`` and reads results from the shared result backend. Celery's client
is blocking, so each call runs in a thread under a deadline: a dead Redis gives
``TaskQueueUnavailableError``, never a hang.
"""

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api_service.request_id import current_request_id

_KNOWN_KEY = "api:task:{}"
_UNAVAILABLE = (TimeoutError, OSError, RedisError, OperationalError)

TaskState = Literal["pending", "running", "succeeded", "failed"]
_STATES: dict[str, TaskState] = {
    "PENDING": "pending",
    "RECEIVED": "pending",
    "STARTED": "running",
    "RETRY": "running",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REVOKED": "failed",
}


# Failures the worker words for the caller itself (what failed and why, no internals); any other
# exception's text may name hosts or queries, so only a fixed sentence is shown for it.
_WORDED_FAILURES = frozenset({"SyncFailedError", "SyncRequestError"})
_UNEXPLAINED_FAILURE = "the sync failed inside the worker; its log has the details under this task id"
_REVOKED = "the task was cancelled, or expired before a worker started it"


def describe_failure(state: str, error: object) -> str:
    """What the caller is told about a failed task: in words, never an internal exception's text."""
    if state == "REVOKED":
        return _REVOKED
    if type(error).__name__ in _WORDED_FAILURES and str(error):
        return str(error)
    return _UNEXPLAINED_FAILURE


class TaskQueueUnavailableError(Exception):
    """Redis (the broker and result backend) did not answer in time."""


@dataclass(frozen=True)
class TaskInfo:
    state: TaskState
    result: Any | None
    error: str | None


class TaskQueue:
    def __init__(self, redis_url: str, redis: Redis, *, queue: str, timeout: float, result_ttl: int) -> None:
        self._redis = redis
        self._queue = queue
        self._timeout = timeout
        self._result_ttl = result_ttl
        config = {
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            "result_expires": result_ttl,
            "broker_connection_timeout": timeout,
            "broker_connection_retry_on_startup": False,
            "broker_transport_options": {"socket_timeout": timeout, "socket_connect_timeout": timeout},
            "redis_socket_timeout": timeout,
            "redis_socket_connect_timeout": timeout,
            "redis_retry_on_timeout": False,
        }
        # Two clients: the sender has no result backend, because Celery's Redis backend subscribes
        # to every sent task's result channel (a subscription per task for the life of the API);
        # results are read with plain GETs through the reader.
        self._sender = Celery("api", broker=redis_url, set_as_current=False, config_source=config)
        self._reader = Celery("api", backend=redis_url, set_as_current=False, config_source=config)

    async def send(self, name: str, kwargs: Mapping[str, Any]) -> str:
        """Enqueue task ``name`` and return its id.

        The id is recorded before the task is sent, so that a task which was queued just as the
        deadline passed is still known when the caller asks about it.
        """
        task_id = str(uuid.uuid4())
        # The request id travels in the message's headers: the worker's lines of the task carry it.
        request_id = current_request_id()
        headers = {"request_id": request_id} if request_id else None
        try:
            async with asyncio.timeout(self._timeout * 2):
                await self._redis.set(_KNOWN_KEY.format(task_id), name, ex=self._result_ttl)
                await asyncio.to_thread(
                    self._sender.send_task,
                    name,
                    kwargs=dict(kwargs),
                    queue=self._queue,
                    task_id=task_id,
                    headers=headers,
                    retry=False,
                )
        except _UNAVAILABLE as exc:
            raise TaskQueueUnavailableError from exc
        return task_id

    async def info(self, task_id: str) -> TaskInfo | None:
        """The task's state, or None when no task with that id was sent through this API."""
        try:
            async with asyncio.timeout(self._timeout * 2):
                if not await self._redis.exists(_KNOWN_KEY.format(task_id)):
                    return None
                return await asyncio.to_thread(self._read, task_id)
        except _UNAVAILABLE as exc:
            raise TaskQueueUnavailableError from exc

    def _read(self, task_id: str) -> TaskInfo:
        result: AsyncResult[Any] = AsyncResult(task_id, app=self._reader)
        state = _STATES.get(result.state, "running")
        if state == "succeeded":
            return TaskInfo(state, result.result, None)
        if state == "failed":
            return TaskInfo(state, None, describe_failure(result.state, result.result))
        return TaskInfo(state, None, None)

    def close(self) -> None:
        self._sender.close()
        self._reader.close()

"""Sending sync tasks to the worker and reading their state, through Redis.

The API does not import the worker: it sends tasks by the names and arguments of the contract in
``db_general.task_contract`` and reads results from the shared result backend. Celery's client
is blocking, so each call runs in a thread under a deadline: a dead Redis gives
``TaskQueueUnavailableError``, never a hang.

Celery's clients are made on first use, in that thread: the API serves its other routes without
loading Celery, and a process no one asks for a sync never loads it.
"""

import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kombu.exceptions import OperationalError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api_service.request_id import current_request_id

if TYPE_CHECKING:
    from celery import Celery

_KNOWN_KEY = "api:task:{}"
# The same sync asked again while one is pending: the request's key names the pending task.
_REQUEST_KEY = "api:sync:{queue}:request:{request}"
# The API's syncs queued or running, scored by when they are over at the latest.
_PENDING_KEY = "api:sync:{queue}:pending"
_FINISHED = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
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


def _text(value: object) -> str | None:
    """A Redis reply as text (the client gives bytes)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class TaskQueueUnavailableError(Exception):
    """Redis (the broker and result backend) did not answer in time."""


class TooManyPendingError(Exception):
    """As many API-requested syncs as allowed are queued or running already."""


@dataclass(frozen=True)
class Sent:
    task_id: str
    existing: bool  # the same sync was pending: this is its task, not a new one


@dataclass(frozen=True)
class TaskInfo:
    state: TaskState
    result: Any | None
    error: str | None


class TaskQueue:
    def __init__(
        self,
        redis_url: str,
        redis: Redis,
        *,
        queue: str,
        timeout: float,
        result_ttl: int,
        expires: int,
        max_pending: int,
        time_limit: int,
    ) -> None:
        self._redis = redis
        self._queue = queue
        self._timeout = timeout
        self._result_ttl = result_ttl
        self._expires = expires
        self._max_pending = max_pending
        # A sync is over at the latest when it expired unstarted or, started, ran out of time.
        self._lifetime = expires + time_limit
        self._pending_key = _PENDING_KEY.format(queue=queue)
        self._redis_url = redis_url
        self._config = {
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
        self._clients: tuple[Celery, Celery] | None = None
        self._clients_made = threading.Lock()

    def _celery(self) -> tuple["Celery", "Celery"]:
        """The sender and the reader, made on first use (called in a worker thread).

        Two clients: the sender has no result backend, because Celery's Redis backend subscribes to
        every sent task's result channel (a subscription per task for the life of the API); results
        are read with plain GETs through the reader.
        """
        with self._clients_made:
            if self._clients is None:
                from celery import Celery  # noqa: PLC0415 - on first use, see the module docstring

                url, config = self._redis_url, self._config
                self._clients = (
                    Celery("api", broker=url, set_as_current=False, config_source=config),
                    Celery("api", backend=url, set_as_current=False, config_source=config),
                )
            return self._clients

    def _send_task(self, name: str, **options: Any) -> None:
        sender, _ = self._celery()
        sender.send_task(name, **options)

    def _states(self, task_ids: set[str]) -> dict[str, str]:
        from celery.result import AsyncResult  # noqa: PLC0415 - on first use, see the module docstring

        _, reader = self._celery()
        return {task_id: AsyncResult(task_id, app=reader).state for task_id in task_ids}

    async def send(self, name: str, kwargs: Mapping[str, Any]) -> Sent:
        """Enqueue task ``name``, or give the task of the same request still pending.

        Bounded three ways: the task expires unless a worker starts it within ``expires`` seconds;
        at most ``max_pending`` are queued or running at once (``TooManyPendingError``), so beat's
        own syncs keep finding a worker; and the same request while one is pending is that task.
        The id is recorded before the task is sent, so that a task which was queued just as the
        deadline passed is still known when the caller asks about it.
        """
        request = json.dumps([name, kwargs], sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(request.encode()).hexdigest()[:32]
        request_key = _REQUEST_KEY.format(queue=self._queue, request=digest)
        task_id = str(uuid.uuid4())
        # The request id travels in the message's headers: the worker's lines of the task carry it.
        request_id = current_request_id()
        headers = {"request_id": request_id} if request_id else None
        try:
            async with asyncio.timeout(self._timeout * 2):
                pending = await self._pending()
                existing = _text(await self._redis.get(request_key))
                if existing is not None and existing in pending:
                    return Sent(existing, existing=True)
                if len(pending) >= self._max_pending:
                    raise TooManyPendingError
                # NX when no task was recorded for the request: of two racing requests, one sends.
                claimed = await self._redis.set(request_key, task_id, ex=self._lifetime, nx=existing is None)
                if not claimed:
                    racer = _text(await self._redis.get(request_key))
                    return Sent(racer or task_id, existing=racer is not None)
                await self._redis.set(_KNOWN_KEY.format(task_id), name, ex=self._result_ttl)
                await self._redis.zadd(self._pending_key, {task_id: time.time() + self._lifetime})
                await asyncio.to_thread(
                    self._send_task,
                    name,
                    kwargs=dict(kwargs),
                    queue=self._queue,
                    task_id=task_id,
                    headers=headers,
                    retry=False,
                    expires=self._expires,
                )
        except _UNAVAILABLE as exc:
            raise TaskQueueUnavailableError from exc
        return Sent(task_id, existing=False)

    async def _pending(self) -> set[str]:
        """The ids of the API's syncs still queued or running; finished ones are forgotten."""
        await self._redis.zremrangebyscore(self._pending_key, "-inf", time.time())
        members = {str(_text(member)) for member in await self._redis.zrange(self._pending_key, 0, -1)}
        states = await asyncio.to_thread(self._states, members)
        finished = [task_id for task_id, state in states.items() if state in _FINISHED]
        if finished:
            await self._redis.zrem(self._pending_key, *finished)
        return members - set(finished)

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
        from celery.result import AsyncResult  # noqa: PLC0415 - on first use, see the module docstring

        _, reader = self._celery()
        result: AsyncResult[Any] = AsyncResult(task_id, app=reader)
        state = _STATES.get(result.state, "running")
        if state == "succeeded":
            return TaskInfo(state, result.result, None)
        if state == "failed":
            return TaskInfo(state, None, describe_failure(result.state, result.result))
        return TaskInfo(state, None, None)

    def close(self) -> None:
        with self._clients_made:
            for client in self._clients or ():
                client.close()

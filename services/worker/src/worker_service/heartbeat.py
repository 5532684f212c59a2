"""The worker's liveness: a heartbeat key in Redis, written by the worker, read by ``worker-service health``.

The key is written by a thread of its own, so a worker busy with a long sync still beats; it
stops beating when the process dies or hangs, or when Redis is unreachable (then the worker can
do nothing either). The key expires by itself after a few missed beats.
"""

import json
import os
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from core_config import get_logger

logger = get_logger(__name__)

KEY_PREFIX = "worker-service:heartbeat"
# A heartbeat older than this many intervals means the worker is not alive.
MISSED_BEATS = 3
REDIS_TIMEOUT = 5.0


def default_node_name() -> str:
    """Celery's default node name on this machine (``celery@<hostname>``)."""
    return f"celery@{socket.gethostname()}"


def heartbeat_key(queue: str, node: str) -> str:
    return f"{KEY_PREFIX}:{queue}:{node}"


def max_age(interval: float) -> float:
    return interval * MISSED_BEATS


def _redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)


@dataclass(frozen=True)
class Beat:
    """One heartbeat as stored: when, and which process."""

    at: float
    pid: int
    node: str

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.at


class Heartbeat:
    """Writes the heartbeat key every ``interval`` seconds from a daemon thread until stopped."""

    def __init__(self, redis_url: str, queue: str, node: str, interval: float) -> None:
        self._redis = _redis(redis_url)
        self._key = heartbeat_key(queue, node)
        self._node = node
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the key: a worker shut down cleanly is no longer alive."""
        self._stopped.set()
        self._thread.join(timeout=REDIS_TIMEOUT)
        with suppress(RedisError):
            self._redis.delete(self._key)
        self._redis.close()

    def beat(self) -> None:
        value = json.dumps({"at": time.time(), "pid": os.getpid(), "node": self._node})
        self._redis.set(self._key, value, px=int(max_age(self._interval) * 1000))

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.beat()
            except RedisError as exc:
                logger.warning("heartbeat not written", error=type(exc).__name__)
            self._stopped.wait(self._interval)


def read_beat(redis_url: str, queue: str, node: str) -> Beat | None:
    """The last heartbeat of ``node`` on ``queue``, or None when there is none (or it expired)."""
    client = _redis(redis_url)
    try:
        raw = client.get(heartbeat_key(queue, node))
    finally:
        client.close()
    if raw is None:
        return None
    data = json.loads(raw)
    return Beat(at=float(data["at"]), pid=int(data["pid"]), node=str(data["node"]))


def check_health(redis_url: str, queue: str, node: str, interval: float) -> str | None:
    """None when ``node``'s heartbeat is fresh, else one line saying what is wrong."""
    try:
        beat = read_beat(redis_url, queue, node)
    except RedisError as exc:
        return f"Redis did not answer ({type(exc).__name__})"
    if beat is None:
        return f"no heartbeat from {node} on queue {queue}"
    if beat.age() > max_age(interval):
        return f"heartbeat from {node} is {beat.age():.0f}s old"
    return None

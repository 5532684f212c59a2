"""``PoolStats``: a connection pool's usage at a moment, for the db.client.connection.* gauges."""

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool


@dataclass(frozen=True)
class PoolStats:
    """One pool's connections: in use, idle, callers waiting (None: not known), its limit."""

    name: str
    used: int
    idle: int
    pending: int | None
    max: int


def engine_pool_stats(name: str, engine: Engine, limit: int) -> PoolStats:
    """``engine``'s pool, which holds at most ``limit`` connections (pool size plus overflow)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return PoolStats(name, 0, 0, None, 0)
    # QueuePool does not count the callers waiting for a connection.
    return PoolStats(name, pool.checkedout(), pool.checkedin(), None, limit)

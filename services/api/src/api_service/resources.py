"""What the API holds for its whole life: both databases, Redis, the task queue, the checks.

One ``Database`` per database, so one pool each: the user database's (sessions) and the general
database's (read-only: autocommit connections, the API only reads it). Readiness checks each database
through that same ``Database``. Created once in the lifespan, closed on shutdown; routes reach them
through ``dependencies``.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api_service.bybit_access import bybit_budget
from api_service.rate_limits import RateLimiter, RateLimitPolicy
from api_service.readiness import Check, CheckFailedError, ReadinessProbe
from api_service.task_queue import TaskQueue
from bybit_client.redis_budget import AsyncRedisBudget
from core_config import Settings, get_logger
from core_telemetry import Telemetry
from db_core import Database, migration_status
from db_general import GENERAL_DB
from db_user import USER_DB, CredentialContext, Vault, credential_key_ids

APPLICATION_NAME = "api"
# Checks of what only some routes need (Redis: requested syncs and task status; the rate limits
# let requests through without it): when
# only these fail, readiness answers 200 "degraded", so the instance stays in rotation.
OPTIONAL_CHECKS = frozenset({"redis"})
logger = get_logger(__name__)


@dataclass
class Resources:
    settings: Settings
    user_db: Database
    general_db: Database
    redis: Redis
    tasks: TaskQueue
    readiness: ReadinessProbe
    vault: Vault
    rate_limiter: RateLimiter
    telemetry: Telemetry
    bybit_budget: AsyncRedisBudget
    # The same budget (the same Redis keys), held by the order routes: an account's spent window is
    # a 429 at once, never a wait.
    order_budget: AsyncRedisBudget


def _database_check(database: Database) -> Check:
    async def check() -> None:
        status = await migration_status(database)
        if not status.reachable:
            logger.warning("readiness: a database does not answer", status=status.describe())
            raise CheckFailedError("unreachable")
        if not status.at_head:
            raise CheckFailedError(
                f"not migrated to head (at {status.current or 'nothing'}); run db-migrate upgrade"
            )

    return check


_PROBE_CONTEXT = CredentialContext(user_id=0, network="probe", api_key="probe")


def _vault_check(vault: Vault, sessions: Callable[[], async_sessionmaker[AsyncSession]]) -> Check:
    async def check() -> None:
        sealed = vault.encrypt(SecretStr("probe"), _PROBE_CONTEXT)
        if vault.decrypt(sealed.ciphertext, sealed.key_id, _PROBE_CONTEXT).get_secret_value() != "probe":
            raise CheckFailedError("the primary master key does not decrypt what it encrypts")
        try:
            async with sessions()() as session:
                in_use = await credential_key_ids(session)
        except (SQLAlchemyError, OSError):
            return  # the user database's own check reports it
        missing = sorted(in_use - vault.key_ids)
        if missing:
            raise CheckFailedError(
                f"stored credentials use master keys missing from the key file: {', '.join(missing)}"
            )

    return check


@asynccontextmanager
async def open_resources(settings: Settings, telemetry: Telemetry | None = None) -> AsyncIterator[Resources]:
    """Every resource of the process; raises ``ConfigError`` when the master key file is not right."""
    vault = Vault.from_settings(settings)

    user_db = Database(USER_DB, settings, application_name=APPLICATION_NAME)
    general_db = Database(GENERAL_DB, settings, application_name=APPLICATION_NAME, read_only=True)
    timeout = settings.health_check_timeout
    redis = Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
    tasks = TaskQueue(
        settings.redis_url.get_secret_value(),
        redis,
        queue=settings.celery_queue,
        timeout=timeout,
        result_ttl=settings.task_result_ttl,
        expires=settings.sync_request_expires,
        max_pending=settings.sync_max_pending,
        time_limit=settings.task_time_limit,
    )

    async def redis_check() -> None:
        await redis.ping()

    readiness = ReadinessProbe(
        {
            "user_database": _database_check(user_db),
            "general_database": _database_check(general_db),
            "redis": redis_check,
            "master_key": _vault_check(vault, user_db.async_sessions),
        },
        timeout=timeout,
        optional=OPTIONAL_CHECKS,
    )
    try:
        rate_limiter = RateLimiter(RateLimitPolicy(settings), settings, redis)
        yield Resources(
            settings,
            user_db,
            general_db,
            redis,
            tasks,
            readiness,
            vault,
            rate_limiter,
            telemetry or Telemetry(),
            bybit_budget(settings, redis),
            bybit_budget(settings, redis, max_wait=0),
        )
    finally:
        tasks.close()
        await redis.aclose()
        await user_db.dispose()
        await general_db.dispose()

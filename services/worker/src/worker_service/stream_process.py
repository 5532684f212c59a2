"""``worker-service stream``: the long-lived process that keeps the configured klines live.

One instance only (each instance would write the same rows). It runs ``KlineStreamer`` and writes
the stream's status to Redis every ``STREAM_STATUS_INTERVAL`` seconds (the API's
``/health/stream`` reads it), with a log line about once a minute. SIGTERM or SIGINT closes the
socket, commits what was received (bounded wait) and exits 0.
"""

import asyncio
import contextlib
import signal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bybit_client import AsyncBybitClient
from bybit_client.telemetry import call_observer
from core_config import Settings, get_logger
from core_telemetry import telemetry
from db_core import Database
from db_general import GENERAL_DB
from worker_contract import MISSED_STATUS_WRITES, stream_status_key
from worker_service.bybit_budget import stream_budget
from worker_service.streaming import KlineStreamer, stream_settings

logger = get_logger(__name__)

APPLICATION_NAME = "stream"
FLUSH_SECONDS = 2.0  # at SIGTERM, what was received gets this long to be committed
LOG_EVERY = 60.0  # seconds between status log lines


def build_streamer(settings: Settings, database: Database, rest: AsyncBybitClient) -> KlineStreamer:
    return KlineStreamer(
        stream_base_url=settings.bybit_stream_url,
        category=settings.sync_kline_category,
        symbols=settings.sync_kline_symbols,
        intervals=settings.sync_kline_intervals,
        database=database,
        rest=rest,
        stream_settings=stream_settings(settings.stream_ping_interval, settings.stream_silence_timeout),
        ca_file=settings.bybit_ca_file,
    )


async def write_status(streamer: KlineStreamer, redis: Redis, key: str, interval: float) -> None:
    """Every ``interval`` seconds: the status to Redis (expiring), and a log line once a minute."""
    logged_at = 0.0
    loop = asyncio.get_running_loop()
    while True:
        status = streamer.status(interval)
        try:
            await redis.set(key, status.model_dump_json(), px=int(interval * MISSED_STATUS_WRITES * 1000))
        except RedisError as error:
            logger.warning("stream status not written", error=f"{type(error).__name__}: {error}")
        if loop.time() - logged_at >= LOG_EVERY:
            logged_at = loop.time()
            stale = [
                topic
                for topic, health in status.topics.items()
                if health.last_message_at is None
                or (status.at - health.last_message_at).total_seconds() > 120
            ]
            logger.info(
                "stream status",
                connected=status.connected,
                reconnects=status.reconnects,
                topics=len(status.topics),
                quiet_topics=len(stale),
                candles_written=status.candles_written,
                lag_ms=None if status.lag_ms is None else round(status.lag_ms, 1),
                max_lag_ms=None if status.max_lag_ms is None else round(status.max_lag_ms, 1),
                backfills=status.backfills,
            )
        await asyncio.sleep(interval)


async def run_stream(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    database = Database(GENERAL_DB, settings, application_name=APPLICATION_NAME)
    telemetry().observe_pools(database.pool_stats)
    key = stream_status_key(settings.celery_queue)
    redis = Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5)
    try:
        async with AsyncBybitClient(
            settings.bybit_api_url,
            timeout=settings.bybit_timeout,
            ca_file=settings.bybit_ca_file,
            observer=call_observer() if telemetry().plan.enabled else None,  # the backfill's calls
            budget=stream_budget(settings, redis),
        ) as rest:
            streamer = build_streamer(settings, database, rest)
            logger.info(
                "stream starting",
                url=streamer.stream.url,
                series=len(streamer.series),
            )
            runner = asyncio.create_task(streamer.run(), name="kline streamer")
            status = asyncio.create_task(write_status(streamer, redis, key, settings.stream_status_interval))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({runner, stopped}, return_when=asyncio.FIRST_COMPLETED)
            await streamer.stream.close()  # the socket first: nothing new comes in
            flushed = True
            try:
                async with asyncio.timeout(FLUSH_SECONDS):
                    await streamer.flush()
            except TimeoutError:
                flushed = False
            for task in (runner, status, stopped):
                task.cancel()
            results = await asyncio.gather(runner, status, stopped, return_exceptions=True)
            failure = next(
                (
                    r
                    for r in results
                    if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
                ),
                None,
            )
            logger.info("stream stopped", flushed=flushed)
            if failure is not None and not stop.is_set():
                raise failure
    finally:
        with contextlib.suppress(RedisError):
            await redis.delete(key)
        await redis.aclose()
        await database.dispose()

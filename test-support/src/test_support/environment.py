"""Settings spelled out as environment variables, for the processes tests and benchmarks start.

A subprocess gets the settings it is meant to run with explicitly, so that a developer's
environment or ``.env`` never leaks into a test.
"""

import os
from collections.abc import Iterable
from typing import Any

from bybit_client.enums import Network
from core_config import Settings

# What every service process of ours is given.
_SHARED = (
    "environment",
    "log_level",
    "database_url_user",
    "database_url_general",
    "redis_url",
    "bybit_network",
    "bybit_api_url",
    "bybit_timeout",
    "bybit_ip_budget",
    "bybit_ban_pause",
    "bybit_budget_prefix",
    "celery_queue",
    "task_result_ttl",
)
API_SETTINGS = (
    *_SHARED,
    "render_master_key_path",
    "rate_limit_per_address",
    "rate_limit_account",
    "rate_limit_credential_writes",
    "rate_limit_operator",
    "rate_limit_key_prefix",
    "order_send_timeout",
)
WORKER_SETTINGS = (
    *_SHARED,
    "sync_chunk_seconds",
    "task_soft_time_limit",
    "task_time_limit",
    "celery_visibility_timeout",
    "worker_soft_shutdown_timeout",
    "worker_shutdown_delay",
    "worker_max_deliveries",
    "worker_concurrency",
    "worker_heartbeat_interval",
    "sync_retry_max",
    "sync_retry_backoff",
    "sync_kline_category",
    "sync_kline_symbols",
    "sync_kline_intervals",
    "sync_kline_every",
    "bybit_stream_url",
    "stream_ping_interval",
    "stream_silence_timeout",
    "stream_status_interval",
)
# ``worker-service accounts``: the user database and the master key, the streams' timings.
ACCOUNTS_SETTINGS = (
    *(name for name in _SHARED if name != "database_url_general"),
    "render_master_key_path",
    "bybit_stream_url",
    "bybit_recv_window",
    "stream_ping_interval",
    "stream_silence_timeout",
    "accounts_lease_seconds",
    "accounts_check_interval",
)

# A staging or production process must name a network of Bybit's (the local default, the simulated
# exchange, is refused there); processes that never call Bybit get testnet.
STAGING_BYBIT = {"BYBIT_NETWORK": Network.TESTNET.value, "BYBIT_API_URL": Network.TESTNET.rest_url}


def _text(value: Any) -> str:
    if hasattr(value, "get_secret_value"):
        return str(value.get_secret_value())
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value.value if hasattr(value, "value") else value)


def settings_environment(settings: Settings, names: Iterable[str], **extra: str) -> dict[str, str]:
    """This process's environment with ``names`` of ``settings`` as variables, then ``extra``."""
    return {**os.environ, **{name.upper(): _text(getattr(settings, name)) for name in names}, **extra}

"""The settings every service reads: built once per process from the environment and ``.env``."""

from enum import StrEnum
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bybit_client.enums import PUBLIC_STREAM_HOSTS, Category, Interval, KlineCategory, Network
from core_config.errors import ConfigError
from core_config.urls import (
    check_base_url,
    check_redis_url,
    database_name,
    normalise_postgres_url,
    on_local_port,
)


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


# Where a developer's machine keeps its servers; staging and production must name their own. Left
# unset (or set to these very URLs), they move to LOCAL_POSTGRES_PORT / LOCAL_REDIS_PORT, so that
# every entry point (`make run`, `api-admin`, `db-migrate`) reaches the same local servers.
DEFAULT_POSTGRES_PORT = 5432
DEFAULT_REDIS_PORT = 6379
LOCAL_DATABASE_URL_USER = f"postgresql+psycopg://postgres@127.0.0.1:{DEFAULT_POSTGRES_PORT}/bybit_user"
LOCAL_DATABASE_URL_GENERAL = f"postgresql+psycopg://postgres@127.0.0.1:{DEFAULT_POSTGRES_PORT}/bybit_general"
LOCAL_REDIS_URL = f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/0"
_LOCAL_POSTGRES_URLS = frozenset({LOCAL_DATABASE_URL_USER, LOCAL_DATABASE_URL_GENERAL})
# What every service needs; each service requires the rest of what it uses (``Settings.require``),
# so that none has to be given a secret it never uses (the worker never sees the user database).
# BYBIT_NETWORK too: its default is the local simulated exchange, and which exchange a deployment
# trades on must be said, never assumed.
_REQUIRED_OUTSIDE_LOCAL = ("redis_url", "bybit_network")

CommaList = Annotated[list[str], NoDecode]
IntervalList = Annotated[list[Interval], NoDecode]
# A rate limit as ``limits`` writes it: an amount per second, minute, hour or day.
RateLimit = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,6}/(second|minute|hour|day)$")]


class Settings(BaseSettings):
    """Every setting of the services; each field is read from the upper-case variable."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
        validate_default=True,
    )

    environment: Environment = Field(
        Environment.LOCAL,
        description="`local`, `test`, `staging` or `production`; the last two require the URLs, refuse "
        "plain-http Bybit URLs and group-readable key files, and log JSON lines",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="`DEBUG` ... `CRITICAL`"
    )

    # Before the URLs: their local defaults take these ports.
    local_postgres_port: int = Field(
        5432,
        ge=1,
        le=65535,
        description="the local PostgreSQL port: where `make run` and `make test` look for one (or embed "
        "one), and the port of the database URLs left at their local default",
    )
    local_redis_port: int = Field(
        6379,
        ge=1,
        le=65535,
        description="the local Redis port, as `LOCAL_POSTGRES_PORT` for PostgreSQL",
    )
    local_stack_dir: Path = Field(
        Path(".local"), description="where `make run` keeps its embedded servers' data (git-ignored)"
    )

    database_url_user: SecretStr = Field(
        SecretStr(LOCAL_DATABASE_URL_USER),
        description="the user database (`postgres://` and `postgresql://` accepted); unset, `make run` "
        "uses or embeds a local server",
    )
    database_url_general: SecretStr = Field(
        SecretStr(LOCAL_DATABASE_URL_GENERAL),
        description="the general database; must name another database than `DATABASE_URL_USER`",
    )
    # Migrations change the schema, which the runtime roles may not: outside a developer's machine
    # `db-migrate` connects as each database's owner through these, and no running service reads them.
    database_migration_url_user: SecretStr | None = Field(
        None,
        description="the user database as its owner, for `db-migrate` (required by it in staging and "
        "production); unset locally: `DATABASE_URL_USER`",
    )
    database_migration_url_general: SecretStr | None = Field(
        None,
        description="the general database as its owner, for `db-migrate`, as `DATABASE_MIGRATION_URL_USER`",
    )
    db_pool_size: int = Field(5, ge=1, le=100, description="connections each process keeps per database")
    db_max_overflow: int = Field(
        10, ge=0, le=100, description="connections a process may open beyond the pool size at busy times"
    )
    db_pool_timeout: float = Field(10.0, gt=0, le=300, description="seconds to wait for a pooled connection")
    db_pool_recycle: int = Field(
        1800, ge=-1, description="seconds before a connection is replaced (-1: never)"
    )
    db_connect_timeout: int = Field(5, ge=1, le=60, description="seconds to wait for PostgreSQL to answer")
    db_statement_timeout_ms: int = Field(30_000, ge=0, description="per-statement limit in ms (0: none)")

    redis_url: SecretStr = Field(
        SecretStr(LOCAL_REDIS_URL),
        description="Celery's broker and result backend, the rate limits and the call budget "
        "(`redis://`, `rediss://`, `redis+socket://`); unset, `make run` uses or embeds a local server",
    )

    bybit_network: Network = Field(
        Network.SIMULATED,
        description="`simulated` (the local fake exchange `make run` starts; refused in staging and "
        "production), `testnet`, `demo` or `mainnet`; required in staging and production",
    )
    bybit_api_url: str = Field(
        "", description="Bybit's REST base (e.g. `https://api.bytick.com`, a regional host); from the network"
    )
    bybit_timeout: float = Field(10.0, gt=0, le=120, description="seconds a call to Bybit may take")
    bybit_recv_window: int = Field(
        5000, ge=100, le=60_000, description="ms a signed request stays valid (Bybit's recv_window)"
    )
    bybit_ca_file: FilePath | None = Field(
        None, description="a PEM bundle both Bybit clients trust instead of certifi's (e.g. a proxy's CA)"
    )
    bybit_stream_url: str = Field(
        "", description="the WebSocket base (`wss://`; `ws://` only locally); from the network"
    )
    bybit_ip_budget: int = Field(
        500, ge=1, le=600, description="calls per 5 s to Bybit from every process together (Bybit: 600)"
    )
    bybit_ban_pause: float = Field(
        600.0, ge=1, le=3600, description="seconds every process stops calling Bybit after an IP ban (403)"
    )
    order_send_timeout: float = Field(
        3.0,
        gt=0,
        le=30,
        description="seconds an order request waits for Bybit's answer; past it the order is pending_unknown "
        "and resolved in the background by its orderLinkId",
    )
    bybit_budget_prefix: str = Field(
        "bybit-budget",
        pattern=r"^[A-Za-z0-9:._-]{1,64}$",
        description="the Redis keys of that shared budget (processes sharing it must name the same)",
    )
    stream_ping_interval: float = Field(20.0, gt=0, le=60, description="seconds between stream pings")
    stream_silence_timeout: float = Field(
        30.0, gt=0, le=600, description="seconds of silence before a stream connection is replaced"
    )
    stream_status_interval: float = Field(
        5.0, gt=0, le=300, description="seconds between stream status writes"
    )
    accounts_lease_seconds: float = Field(
        10.0,
        ge=1,
        le=30,
        description="seconds an account process holds a key's stream without renewing; a dead process's "
        "keys are taken up this long after its last renewal",
    )
    accounts_check_interval: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="seconds between the account process's full checks of each live account against "
        "Bybit (what a silent stream missed)",
    )

    render_master_key_path: Path = Field(
        Path(".local/master.key"),
        description="the master key file (on Render: `/etc/secrets/master.key`); `make run` writes "
        "one when missing, in the local environment only",
    )

    api_host: str = Field("127.0.0.1", description="where uvicorn listens")
    port: int = Field(8000, ge=1, le=65535, description="the api's port (Render sets it)")
    api_workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    cors_origins: CommaList = Field(
        default_factory=list, description="comma-separated origins allowed by CORS (none: no CORS)"
    )
    health_check_timeout: float = Field(1.5, gt=0, le=10, description="seconds each readiness check may take")
    rate_limits_enabled: bool = Field(True, description="whether the api counts requests against the limits")
    rate_limit_per_address: RateLimit = Field("600/minute", description="per client address, every route")
    rate_limit_account: RateLimit = Field("120/minute", description="per token, the account routes")
    rate_limit_credential_writes: RateLimit = Field(
        "10/minute", description="per token, storing and deleting Bybit keys"
    )
    rate_limit_operator: RateLimit = Field("60/minute", description="per token, syncs and tasks")
    rate_limit_key_prefix: str = Field(
        "ratelimit", pattern=r"^[A-Za-z0-9:._-]{1,64}$", description="the Redis keys of the rate limits"
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="addresses or networks of the proxy the api's connections come from, whose "
        "X-Forwarded-For is read (none: no header is believed); on Render `10.0.0.0/8`",
    )
    proxy_hops: int = Field(
        1,
        ge=1,
        le=8,
        description="how many proxies in front of the api append to X-Forwarded-For (Render: 2, "
        "Cloudflare's edge and Render's proxy); the client address is the one the farthest of them "
        "saw, that many entries from the right, whatever the caller wrote before it",
    )
    api_max_body_bytes: int = Field(
        16_384, ge=1024, le=10_485_760, description="larger request bodies are refused with 413 unread"
    )
    api_max_header_bytes: int = Field(
        16_384,
        ge=1024,
        le=1_048_576,
        description="a request line and headers larger than this are refused with 400 and the "
        "connection closed (uvicorn's h11 `h11_max_incomplete_event_size`)",
    )
    api_body_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="seconds a request's whole body may take to arrive; past it, 408 and the "
        "connection closed",
    )
    api_max_connections: int = Field(
        200,
        ge=1,
        le=10_000,
        description="open connections (and requests running) per api worker; past it, 503 (uvicorn's "
        "`limit_concurrency`)",
    )
    api_docs: bool | None = Field(
        None,
        description="serve `/docs` and `/openapi.json`; unset: on, except when ENVIRONMENT is production",
    )
    token_lifetime_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="days an issued API token lives when `api-admin tokens issue` is given no "
        "`--expires-in` (`--expires-in never` for a token that never expires)",
    )

    celery_queue: str = Field(
        "default", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="the task queue (names its Redis keys too)"
    )
    task_result_ttl: int = Field(86_400, ge=60, description="seconds a task's result is kept")
    # A sync task does sync_chunk_seconds of work, then sends the rest as its next message: no
    # task runs long, so a task lost with its worker is handed on after a short visibility timeout.
    sync_chunk_seconds: float = Field(
        20.0, gt=0, le=3600, description="seconds a sync task works before handing on the rest"
    )
    task_soft_time_limit: int = Field(40, ge=1, description="seconds before a task is asked to stop")
    task_time_limit: int = Field(50, ge=1, description="seconds before a task's process is killed")
    celery_visibility_timeout: int = Field(
        100,
        ge=1,
        description="seconds before an unacknowledged task is given to another worker (above "
        "`TASK_TIME_LIMIT`)",
    )
    worker_soft_shutdown_timeout: float = Field(
        45.0, ge=0, le=3600, description="seconds a stopping worker lets running tasks finish"
    )
    worker_shutdown_delay: int = Field(
        60,
        ge=1,
        le=3600,
        description="seconds the platform waits after SIGTERM before killing the worker (render.yaml's "
        "`maxShutdownDelaySeconds`)",
    )
    worker_max_deliveries: int = Field(
        3, ge=1, le=100, description="times a task may be cut off by its worker dying before it is set aside"
    )
    worker_concurrency: int = Field(2, ge=1, le=64, description="worker processes")
    worker_heartbeat_interval: float = Field(10.0, gt=0, le=300, description="seconds between heartbeats")
    sync_max_candles: int = Field(
        10_000, ge=1, le=1_000_000, description="candles one API-requested klines sync may cover"
    )
    sync_request_expires: int = Field(
        600, ge=10, description="seconds an API-requested sync may wait for a worker before it is dropped"
    )
    sync_max_pending: int = Field(
        1,
        ge=1,
        le=64,
        description="API-requested syncs queued or running at once (keep below the concurrency)",
    )
    sync_retry_max: int = Field(
        5, ge=0, le=100, description="retries of a sync after an outage of Bybit or the database"
    )
    sync_abandoned_after: int = Field(
        900,
        ge=1,
        le=86_400,
        description="seconds a running sync may show no sign of life before the sweep closes it as failed",
    )
    sync_retry_backoff: float = Field(5.0, ge=0, le=600, description="seconds before a sync's first retry")

    sentry_dsn: SecretStr | None = Field(None, description="Sentry project DSN; error reports off when unset")

    sync_kline_category: KlineCategory = Field(
        Category.LINEAR, description="the category whose klines the stream keeps live (and beat syncs)"
    )
    sync_kline_symbols: CommaList = Field(
        default_factory=lambda: ["BTCUSDT", "ETHUSDT"], description="the symbols kept live, comma-separated"
    )
    sync_kline_intervals: IntervalList = Field(
        default_factory=lambda: [Interval.MIN_1], description="the intervals kept live, comma-separated"
    )
    sync_kline_every: int = Field(60, ge=1, le=86_400, description="seconds between beat's klines syncs")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "cors_origins", "sync_kline_symbols", "sync_kline_intervals", "trusted_proxies", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ip_network(item, strict=False)  # a ValueError names the bad entry
        return value

    @field_validator("database_url_user", "database_url_general", mode="after")
    @classmethod
    def _normalise_postgres(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        url = normalise_postgres_url(value.get_secret_value())
        port = info.data.get("local_postgres_port", DEFAULT_POSTGRES_PORT)
        return SecretStr(on_local_port(url, port) if url in _LOCAL_POSTGRES_URLS else url)

    @field_validator("database_migration_url_user", "database_migration_url_general", mode="after")
    @classmethod
    def _normalise_migration_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        return SecretStr(normalise_postgres_url(value.get_secret_value()))

    @field_validator("sentry_dsn", mode="after")
    @classmethod
    def _check_sentry_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.username:
            raise ValueError("not a Sentry DSN (https://<public key>@<host>/<project id>)")
        return value

    @field_validator("redis_url", mode="after")
    @classmethod
    def _check_redis(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        url = check_redis_url(value.get_secret_value())
        port = info.data.get("local_redis_port", DEFAULT_REDIS_PORT)
        return SecretStr(on_local_port(url, port) if url == LOCAL_REDIS_URL else url)

    @model_validator(mode="after")
    def _check_together(self) -> Self:
        problems: list[str] = []
        if self.environment in (Environment.STAGING, Environment.PRODUCTION):
            for field in _REQUIRED_OUTSIDE_LOCAL:
                if field not in self.model_fields_set:
                    problems.append(f"{field.upper()}: required when ENVIRONMENT is {self.environment}")
            if "bybit_network" in self.model_fields_set and not self.bybit_network.is_bybit:
                problems.append(
                    f"BYBIT_NETWORK: {self.bybit_network} is the local fake exchange; when ENVIRONMENT is "
                    f"{self.environment} choose mainnet, testnet or demo"
                )
        if self.database_url_user.get_secret_value() == self.database_url_general.get_secret_value():
            problems.append("DATABASE_URL_GENERAL: must name another database than DATABASE_URL_USER")
        for name in ("user", "general"):
            problems.extend(self._migration_url_problems(name))
        api_url = self._base_url("BYBIT_API_URL", self.bybit_api_url, "http", problems)
        self.bybit_api_url = api_url or self.bybit_network.rest_url
        stream_url = self._base_url("BYBIT_STREAM_URL", self.bybit_stream_url, "ws", problems)
        self.bybit_stream_url = stream_url or PUBLIC_STREAM_HOSTS[self.bybit_network]
        if self.stream_silence_timeout <= self.stream_ping_interval:
            problems.append(
                "STREAM_SILENCE_TIMEOUT: must be longer than STREAM_PING_INTERVAL (pongs prove life)"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _migration_url_problems(self, name: str) -> list[str]:
        """The owner's URL must name the database the services use (a copied URL of the other one
        would migrate the wrong database); outside a developer's machine the services' URL must
        not log in as that owner, who may change the schema."""
        migration = getattr(self, f"database_migration_url_{name}")
        runtime_field = f"database_url_{name}"
        if migration is None or runtime_field not in self.model_fields_set:
            return []
        owner = urlsplit(migration.get_secret_value())
        runtime = urlsplit(getattr(self, runtime_field).get_secret_value())
        if database_name(owner.geturl()) != database_name(runtime.geturl()):
            return [
                f"DATABASE_MIGRATION_URL_{name.upper()}: must name the database of {runtime_field.upper()}"
            ]
        if not self.is_local and runtime.username == owner.username:
            return [
                f"{runtime_field.upper()}: logs in as the database's owner (as DATABASE_MIGRATION_URL_"
                f"{name.upper()}); the services use a runtime role that cannot change the schema"
            ]
        return []

    def _base_url(self, variable: str, url: str, scheme: Literal["http", "ws"], problems: list[str]) -> str:
        """``url`` checked and normalised (unset stays unset); a wrong one is added to ``problems``."""
        if url:
            try:
                return check_base_url(url, scheme=scheme, allow_plain=self.is_local)
            except ValueError as exc:
                problems.append(f"{variable}: {exc}")
        return url

    def require(self, *fields: str) -> Self:
        """These settings, which the calling service uses, must be set outside a developer's machine;
        raises ``ConfigError`` naming each one missing."""
        if self.is_local:
            return self
        missing = [field for field in fields if field not in self.model_fields_set]
        if missing:
            raise ConfigError(
                [(field.upper(), f"required when ENVIRONMENT is {self.environment}") for field in missing]
            )
        return self

    @property
    def json_logs(self) -> bool:
        """Structured JSON log lines in staging and production, readable text elsewhere."""
        return not self.is_local

    @property
    def docs_enabled(self) -> bool:
        """Whether the api serves its OpenAPI document and ``/docs`` (``API_DOCS``)."""
        return self.api_docs if self.api_docs is not None else self.environment != Environment.PRODUCTION

    @property
    def is_local(self) -> bool:
        """True on a developer's machine or in tests, where relaxed rules apply."""
        return self.environment in (Environment.LOCAL, Environment.TEST)


def build_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and ``.env``, with ``overrides`` winning.

    Raises ``ConfigError`` naming each bad variable.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError.from_validation_error(exc) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, built once."""
    return build_settings()

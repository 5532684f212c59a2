"""Which PostgreSQL and Redis the stack uses: configured URLs, a server already on the local port, or
embedded servers started on that port.

A URL set in the environment or ``.env`` wins, unless it is the built-in local default. Otherwise
the local default URL is used, and an embedded server is started when nothing answers on its port.
``LOCAL_POSTGRES_PORT`` and ``LOCAL_REDIS_PORT`` move the local ports (5432 and 6379) for a second
checkout or a test.
"""

from dataclasses import dataclass

from core_config import (
    LOCAL_DATABASE_URL_GENERAL,
    LOCAL_DATABASE_URL_USER,
    LOCAL_REDIS_URL,
    Settings,
    on_local_port,
)
from local_stack.ports import LOCAL_HOST, answers

_LOCAL_DEFAULTS = {
    "database_url_user": LOCAL_DATABASE_URL_USER,
    "database_url_general": LOCAL_DATABASE_URL_GENERAL,
    "redis_url": LOCAL_REDIS_URL,
}


@dataclass(frozen=True)
class Plan:
    """The URLs the services get, and which embedded servers must run for them."""

    database_url_user: str
    database_url_general: str
    redis_url: str
    postgres_port: int
    redis_port: int
    embed_postgres: bool
    embed_redis: bool
    postgres_source: str
    redis_source: str


def _source(variables: str, configured: bool, embedded: bool, port: int) -> str:
    if configured:
        return f"from {variables}"
    return f"{'embedded' if embedded else 'already running'} on {LOCAL_HOST}:{port}"


def plan_servers(settings: Settings) -> Plan:
    """Decide, from what is configured and what answers locally, where each server comes from."""
    postgres_port, redis_port = settings.local_postgres_port, settings.local_redis_port
    ports = dict.fromkeys(("database_url_user", "database_url_general"), postgres_port)
    ports["redis_url"] = redis_port
    # A URL set to the local default (as a copied .env.example has it) changes nothing: the local
    # server is still looked for, and embedded when absent. Settings put it on the local port.
    configured = {
        name
        for name, local_default in _LOCAL_DEFAULTS.items()
        if name in settings.model_fields_set
        and getattr(settings, name).get_secret_value() != on_local_port(local_default, ports[name])
    }
    postgres_configured = {"database_url_user", "database_url_general"} <= configured
    redis_configured = "redis_url" in configured
    embed_postgres = not postgres_configured and not answers(postgres_port)
    embed_redis = not redis_configured and not answers(redis_port)

    def url(field: str) -> str:
        value: str = getattr(settings, field).get_secret_value()
        return value

    return Plan(
        database_url_user=url("database_url_user"),
        database_url_general=url("database_url_general"),
        redis_url=url("redis_url"),
        postgres_port=postgres_port,
        redis_port=redis_port,
        embed_postgres=embed_postgres,
        embed_redis=embed_redis,
        postgres_source=_source(
            "DATABASE_URL_USER and DATABASE_URL_GENERAL", postgres_configured, embed_postgres, postgres_port
        ),
        redis_source=_source("REDIS_URL", redis_configured, embed_redis, redis_port),
    )

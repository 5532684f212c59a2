"""Settings: defaults per network, overrides, URL normalisation, .env precedence, masking."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from bybit_client.enums import Category, Interval, Network
from core_config import ConfigError, Settings, build_settings, mask_password

PASSWORD = "s3cr3t-Pa55"
USER_URL = f"postgres://app:{PASSWORD}@db.internal:5432/users"
GENERAL_URL = f"postgresql://app:{PASSWORD}@db.internal:5432/general"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts with no settings in the environment and no .env file in reach."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("network", [network for network in Network if network.is_bybit])
def test_bybit_url_defaults_from_network(network: Network) -> None:
    settings = build_settings(bybit_network=network)
    assert settings.bybit_api_url == network.rest_url
    assert settings.bybit_api_url.startswith("https://")
    assert settings.bybit_stream_url.startswith("wss://stream")


def test_the_default_is_the_simulated_exchange_on_this_machine() -> None:
    settings = build_settings()
    assert settings.bybit_network is Network.SIMULATED
    assert (settings.bybit_api_url, settings.bybit_stream_url) == (
        "http://127.0.0.1:8810",
        "ws://127.0.0.1:8811",
    )


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_simulated_exchange_is_refused_outside_a_developers_machine(environment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings(
            environment=environment,
            bybit_network="simulated",
            database_url_user=USER_URL,
            database_url_general=GENERAL_URL,
            redis_url="redis://cache:6379",
        )
    assert caught.value.lines() == [
        f"BYBIT_NETWORK: simulated is the local fake exchange; when ENVIRONMENT is {environment} "
        "choose mainnet, testnet or demo"
    ]


def test_local_urls_follow_the_local_ports_and_configured_ones_stay() -> None:
    settings = build_settings(local_postgres_port=55432, local_redis_port=56379)
    assert settings.database_url_user.get_secret_value() == (
        "postgresql+psycopg://postgres@127.0.0.1:55432/bybit_user"
    )
    assert settings.database_url_general.get_secret_value().endswith("@127.0.0.1:55432/bybit_general")
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:56379/0"
    configured = build_settings(local_postgres_port=55432, database_url_user=USER_URL)
    assert configured.database_url_user.get_secret_value() == (
        f"postgresql+psycopg://app:{PASSWORD}@db.internal:5432/users"
    )


def test_explicit_bybit_url_wins_over_network() -> None:
    settings = build_settings(bybit_network="mainnet", bybit_api_url="https://api.bytick.com/")
    assert settings.bybit_api_url == "https://api.bytick.com"


def test_plain_http_bybit_url_only_locally() -> None:
    assert build_settings(bybit_api_url="http://127.0.0.1:9000").bybit_api_url == "http://127.0.0.1:9000"
    with pytest.raises(ConfigError) as caught:
        build_settings(
            environment="production",
            bybit_network="mainnet",
            bybit_api_url="http://127.0.0.1:9000",
            database_url_user=USER_URL,
            database_url_general=GENERAL_URL,
            redis_url="redis://cache:6379",
        )
    assert caught.value.lines() == [
        "BYBIT_API_URL: must be https:// (plain http:// is allowed only when ENVIRONMENT is local or test)"
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u:p@h/d?sslmode=require", "postgresql+psycopg://u:p@h/d?sslmode=require"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("POSTGRES://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_postgres_urls_are_normalised_to_psycopg(given: str, expected: str) -> None:
    settings = build_settings(database_url_user=given, database_url_general="postgresql://u@h/other")
    assert settings.database_url_user.get_secret_value() == expected


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("database_url_user", "mysql://u:p@h/d", "not a PostgreSQL URL"),
        ("database_url_general", "postgresql://u:p@h", "names no database"),
        ("redis_url", "http://cache:6379", "not a Redis URL"),
        ("bybit_network", "moon", "Input should be 'mainnet', 'testnet', 'demo' or 'simulated'"),
        ("port", "eighty", "valid integer"),
        ("bybit_ca_file", "/nonexistent/ca.pem", "Path does not point to a file"),
        ("sync_kline_category", "option", "Input should be 'spot', 'linear' or 'inverse'"),
        ("sync_kline_intervals", "1,7", "Input should be '1', '3', '5'"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings(**{variable: value})
    (line,) = caught.value.lines()
    assert line.startswith(f"{variable.upper()}: ")
    assert problem in line


@pytest.mark.parametrize("scheme", ["redis", "rediss", "redis+socket"])
def test_redis_schemes_accepted(scheme: str) -> None:
    url = f"{scheme}://:pw@cache:6379/0"
    assert build_settings(redis_url=url).redis_url.get_secret_value() == url


def test_production_requires_redis_the_network_and_each_service_what_it_uses() -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings(environment="production")
    assert caught.value.lines() == [
        "REDIS_URL: required when ENVIRONMENT is production",
        "BYBIT_NETWORK: required when ENVIRONMENT is production",
    ]
    settings = build_settings(
        environment="production", redis_url="redis://cache:6379/0", bybit_network="mainnet"
    )
    with pytest.raises(ConfigError) as caught:
        settings.require("database_url_user", "database_url_general", "redis_url")
    assert caught.value.lines() == [
        "DATABASE_URL_USER: required when ENVIRONMENT is production",
        "DATABASE_URL_GENERAL: required when ENVIRONMENT is production",
    ]
    assert build_settings().require("database_url_user") is not None  # a developer's defaults do


def test_the_two_databases_must_differ() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL_GENERAL: must name another database"):
        build_settings(database_url_user=USER_URL, database_url_general=USER_URL)


def test_the_owners_url_names_the_services_database_and_no_service_logs_in_as_the_owner() -> None:
    owner = f"postgresql://owner:{PASSWORD}@db.internal:5432/general"
    with pytest.raises(ConfigError) as caught:
        build_settings(database_url_general=GENERAL_URL, database_migration_url_general=USER_URL)
    assert caught.value.lines() == [
        "DATABASE_MIGRATION_URL_GENERAL: must name the database of DATABASE_URL_GENERAL"
    ]
    production = {
        "environment": "production",
        "redis_url": "redis://cache:6379/0",
        "bybit_network": "mainnet",
    }
    with pytest.raises(ConfigError) as caught:
        build_settings(**production, database_url_general=owner, database_migration_url_general=owner)
    assert caught.value.lines()[0].startswith("DATABASE_URL_GENERAL: logs in as the database's owner")
    assert PASSWORD not in str(caught.value)

    settings = build_settings(
        **production, database_url_general=GENERAL_URL, database_migration_url_general=owner
    )
    assert settings.database_migration_url_general is not None
    assert settings.database_migration_url_general.get_secret_value().startswith(
        "postgresql+psycopg://owner:"
    )
    # One role for everything is a developer's machine's normal case.
    assert build_settings(database_url_general=owner, database_migration_url_general=owner)


def test_environment_wins_over_dotenv_and_dotenv_over_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("BYBIT_NETWORK=mainnet\nLOG_LEVEL=debug\nPORT=9001\n")
    monkeypatch.setenv("PORT", "9002")
    settings = build_settings()
    assert settings.bybit_network is Network.MAINNET  # from .env
    assert settings.log_level == "DEBUG"  # from .env, normalised
    assert settings.port == 9002  # the environment wins
    assert settings.api_workers == 1  # the default


def test_comma_lists_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_KLINE_SYMBOLS", "BTCUSDT, SOLUSDT,")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    settings = build_settings()
    assert settings.sync_kline_symbols == ["BTCUSDT", "SOLUSDT"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_kline_terms_are_bybit_client_enums(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_KLINE_CATEGORY", "spot")
    monkeypatch.setenv("SYNC_KLINE_INTERVALS", "1, 60,D")
    settings = build_settings()
    assert settings.sync_kline_category is Category.SPOT
    assert settings.sync_kline_intervals == [Interval.MIN_1, Interval.HOUR_1, Interval.DAY]
    assert all(type(interval) is Interval for interval in settings.sync_kline_intervals)


def test_passwords_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL_USER", USER_URL)
    monkeypatch.setenv("DATABASE_URL_GENERAL", GENERAL_URL)
    monkeypatch.setenv("REDIS_URL", f"rediss://:{PASSWORD}@cache:6379/0")
    settings = build_settings()
    assert isinstance(settings.database_url_user, SecretStr)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert PASSWORD not in text
    assert PASSWORD in settings.database_url_user.get_secret_value()
    assert mask_password(settings.database_url_user.get_secret_value()) == (
        "postgresql+psycopg://app:***@db.internal:5432/users"
    )


def test_errors_never_echo_the_value() -> None:
    bad = f"mysql://app:{PASSWORD}@db/users"
    with pytest.raises(ConfigError) as caught:
        build_settings(database_url_user=bad, redis_url=f"http://:{PASSWORD}@cache")
    assert len(caught.value.lines()) == 2
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value)


def test_settings_load_bybit_terms_without_the_http_client() -> None:
    probe = "import sys, core_config; print(sorted(m for m in ('aiohttp', 'pycurl') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"

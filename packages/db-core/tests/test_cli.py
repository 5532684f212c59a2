"""``db-migrate`` as a real process: settings from the environment, one-line errors, exit codes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_support.scratch import scratch_database

DB_MIGRATE = Path(sys.executable).with_name("db-migrate")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DB_"))}
    environment.update({"ENVIRONMENT": "test", **env})
    return subprocess.run(
        [str(DB_MIGRATE), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_upgrade_both_then_current_and_check(tmp_path: Path, empty_database_url: str) -> None:
    with scratch_database("cli") as general_url:
        env = {"DATABASE_URL_USER": empty_database_url, "DATABASE_URL_GENERAL": general_url}
        before = run("current", **env)
        assert before.returncode == 1
        assert "user: NOT at head" in before.stdout

        upgraded = run("upgrade", **env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "general: at head" in upgraded.stdout
        assert "user: at head" in upgraded.stdout

        assert run("current", **env).returncode == 0
        checked = run("check", **env)
        assert checked.returncode == 0, checked.stderr
        assert "user: no drift" in checked.stdout

        swapped = run(
            "upgrade", "user", DATABASE_URL_USER=general_url, DATABASE_URL_GENERAL=empty_database_url
        )
        assert swapped.returncode == 1
        assert swapped.stderr.startswith("db-migrate: refusing to run the user database's migrations")
        assert "Traceback" not in swapped.stderr


def test_bad_setting_prints_one_line_and_exits_2() -> None:
    result = run("upgrade", DATABASE_URL_USER="mysql://root@localhost/x")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "DATABASE_URL_USER: not a PostgreSQL URL (expected postgresql://user:password@host/db)"
    )


def test_unknown_database_name_is_a_clear_error() -> None:
    result = run("upgrade", "billing")
    assert result.returncode == 1
    assert "no database named 'billing'" in result.stderr


@pytest.mark.timeout(30)
def test_unreachable_database_is_one_line_without_the_password(closed_port: int) -> None:
    # A password can also ride in the query string, libpq-style.
    url = f"postgresql://postgres:hunter2secret@127.0.0.1:{closed_port}/nowhere?password=querysecret"
    result = run("upgrade", "user", DATABASE_URL_USER=url, DB_CONNECT_TIMEOUT="1")
    assert result.returncode == 1
    assert result.stderr.startswith("db-migrate: the user database (DATABASE_URL_USER: 127.0.0.1:")
    assert "does not answer" in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout
    assert "querysecret" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


# Outside a developer's machine the schema changes as each database's owner, never through the
# services' URLs (their roles may not change it): the owners' URLs are required.
PRODUCTION = {
    "ENVIRONMENT": "production",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BYBIT_NETWORK": "testnet",
}


def test_production_migrations_need_the_owners_urls() -> None:
    result = run("upgrade", **PRODUCTION)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "DATABASE_MIGRATION_URL_USER: required when ENVIRONMENT is production",
        "DATABASE_MIGRATION_URL_GENERAL: required when ENVIRONMENT is production",
    ]


def test_production_current_reads_with_the_services_urls() -> None:
    result = run("current", **PRODUCTION)
    assert result.returncode == 2
    assert "DATABASE_URL_USER: required when ENVIRONMENT is production" in result.stderr
    assert "DATABASE_MIGRATION_URL" not in result.stderr


def test_an_owners_url_naming_another_database_is_refused() -> None:
    result = run(
        "upgrade",
        DATABASE_URL_GENERAL="postgresql://reader:pw@127.0.0.1/bybit_general",
        DATABASE_MIGRATION_URL_GENERAL="postgresql://owner:pw@127.0.0.1/bybit_user",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "DATABASE_MIGRATION_URL_GENERAL: must name the database of DATABASE_URL_GENERAL"
    )


@pytest.mark.timeout(30)
def test_an_unreachable_owners_url_is_named_in_the_error(closed_port: int) -> None:
    url = f"postgresql://owner:ownersecret@127.0.0.1:{closed_port}/nowhere"
    result = run("upgrade", "user", DATABASE_MIGRATION_URL_USER=url, DB_CONNECT_TIMEOUT="1")
    assert result.returncode == 1
    assert result.stderr.startswith("db-migrate: the user database (DATABASE_MIGRATION_URL_USER: 127.0.0.1:")
    assert "ownersecret" not in result.stderr + result.stdout

"""A bad setting stops ``python -m core_config`` with one line per problem, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CANARY = "Canary-Pw-31337"

BAD_SETTINGS = [
    ({"DATABASE_URL_USER": f"mysql://u:{CANARY}@h/d"}, ["DATABASE_URL_USER: not a PostgreSQL URL"]),
    ({"REDIS_URL": f"http://:{CANARY}@h:6379"}, ["REDIS_URL: not a Redis URL"]),
    ({"BYBIT_NETWORK": "moon"}, ["BYBIT_NETWORK: Input should be"]),
    ({"LOG_LEVEL": "LOUD"}, ["LOG_LEVEL: Input should be"]),
    ({"DB_POOL_SIZE": "0"}, ["DB_POOL_SIZE: Input should be greater than or equal to 1"]),
    (
        {"ENVIRONMENT": "production", "DATABASE_URL_USER": f"postgres://u:{CANARY}@h/a"},
        ["REDIS_URL: required when ENVIRONMENT is production", "BYBIT_NETWORK: required when ENVIRONMENT"],
    ),
    (
        {"DATABASE_URL_USER": f"postgresql://u:{CANARY}@h", "PORT": "http"},
        ["DATABASE_URL_USER: the PostgreSQL URL names no database", "PORT: Input should be a valid integer"],
    ),
]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "BYBIT_"))}
    return {**env, **extra}


@pytest.mark.parametrize(("env", "expected"), BAD_SETTINGS)
def test_bad_configuration_prints_one_line_per_problem(
    tmp_path: Path, env: dict[str, str], expected: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "core_config"],
        env=_clean_env(**env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start)
    assert "Traceback" not in result.stderr
    assert CANARY not in result.stderr


def test_good_configuration_prints_settings_masked(tmp_path: Path) -> None:
    env = _clean_env(
        DATABASE_URL_USER=f"postgres://u:{CANARY}@h/a", BYBIT_NETWORK="demo", SYNC_KLINE_INTERVALS="1, D"
    )
    result = subprocess.run(
        [sys.executable, "-m", "core_config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "DATABASE_URL_USER=postgresql+psycopg://u:***@h/a" in result.stdout.splitlines()
    assert "BYBIT_API_URL=https://api-demo.bybit.com" in result.stdout.splitlines()
    assert "SYNC_KLINE_INTERVALS=1,D" in result.stdout.splitlines()  # as the variable is written
    assert CANARY not in result.stdout

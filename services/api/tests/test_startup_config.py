"""``api-serve`` and ``api-admin`` refuse a bad configuration with one line per problem."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from db_user import generate_key_file

BIN = Path(sys.executable).parent
CANARY = "Canary-Pw-4242"


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "master.key"
    generate_key_file(path)
    return path


def run(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "RENDER_"))}
    return subprocess.run(
        [str(BIN / command), *(["tokens", "list", "--email", "a@b.c"] if command == "api-admin" else [])],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        (
            "api-serve",
            {"DATABASE_URL_GENERAL": f"mysql://u:{CANARY}@h/d"},
            ["DATABASE_URL_GENERAL: not a PostgreSQL URL"],
        ),
        ("api-serve", {"REDIS_URL": "memcached://cache"}, ["REDIS_URL: not a Redis URL"]),
        (
            "api-serve",
            {"PORT": "0", "API_WORKERS": "many"},
            ["PORT: Input should be", "API_WORKERS: Input should be"],
        ),
        (
            "api-admin",
            {
                "ENVIRONMENT": "production",
                "BYBIT_NETWORK": "mainnet",
                "DATABASE_URL_USER": f"postgres://u:{CANARY}@db/users",
                "REDIS_URL": "redis://cache:6379/0",
            },
            # What the api uses and was not given, each named.
            [
                "DATABASE_URL_GENERAL: required when ENVIRONMENT is production",
                "RENDER_MASTER_KEY_PATH: required when ENVIRONMENT is production",
            ],
        ),
    ],
)
def test_bad_settings_stop_with_one_line_each(
    tmp_path: Path, command: str, env: dict[str, str], expected: list[str]
) -> None:
    result = run(command, env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == len(expected), result.stderr
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start)
    assert "Traceback" not in result.stderr
    assert CANARY not in result.stderr + result.stdout


def test_api_serve_without_its_master_key_file_names_the_setting(tmp_path: Path) -> None:
    result = run("api-serve", {"RENDER_MASTER_KEY_PATH": str(tmp_path / "absent.key")}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"RENDER_MASTER_KEY_PATH: file {tmp_path}/absent.key does not exist"
    ]


def test_group_readable_key_file_is_refused_outside_local(tmp_path: Path, key_file: Path) -> None:
    loose = tmp_path / "loose.key"
    loose.write_bytes(key_file.read_bytes())
    loose.chmod(0o644)
    env = {
        "ENVIRONMENT": "staging",
        "BYBIT_NETWORK": "testnet",
        "DATABASE_URL_USER": "postgresql://u@db/users",
        "DATABASE_URL_GENERAL": "postgresql://u@db/general",
        "REDIS_URL": "redis://cache:6379/0",
        "RENDER_MASTER_KEY_PATH": str(loose),
    }
    result = run("api-serve", env, tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("RENDER_MASTER_KEY_PATH: ")
    assert f"chmod 600 {loose}" in line
    assert key_file.read_text() not in result.stderr

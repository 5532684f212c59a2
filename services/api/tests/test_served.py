"""The API served for real: ``api-serve`` as a process, over TCP, stopped by SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core_config import Settings

API_SERVE = Path(sys.executable).with_name("api-serve")


@pytest.fixture
def served(api_settings: Settings, closed_port: int, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "PORT": str(closed_port),
        "DATABASE_URL_USER": api_settings.database_url_user.get_secret_value(),
        "DATABASE_URL_GENERAL": api_settings.database_url_general.get_secret_value(),
        "REDIS_URL": api_settings.redis_url.get_secret_value(),
        "RENDER_MASTER_KEY_PATH": str(api_settings.render_master_key_path),
    }
    process = subprocess.Popen(
        [str(API_SERVE)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{closed_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/health/live", timeout=1)
            break
        except httpx.TransportError:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "api-serve did not start"
            time.sleep(0.1)
    process.base_url = base  # type: ignore[attr-defined]
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_served_api_answers_and_stops_gracefully_on_sigterm(served: subprocess.Popen[str]) -> None:
    base = served.base_url  # type: ignore[attr-defined]
    ready = httpx.get(f"{base}/health/ready", headers={"X-Request-ID": "served-1"}, timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.headers["x-request-id"] == "served-1"
    assert "server" not in ready.headers
    assert httpx.get(f"{base}/openapi.json", timeout=10).json()["info"]["title"]
    served.send_signal(signal.SIGTERM)
    output, _ = served.communicate(timeout=30)
    # Uvicorn finishes the shutdown, then re-raises SIGTERM so the exit status tells how it ended.
    assert served.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    access_lines = [line for line in output.splitlines() if "GET /health/ready 200" in line]
    assert len(access_lines) == 1  # ours only: uvicorn's own access log is off
    assert "request_id=served-1" in access_lines[0]

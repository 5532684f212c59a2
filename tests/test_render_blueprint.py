"""render.yaml means what production needs, not only what Render's parser accepts.

Every reference resolves, every Dockerfile and context exists, the health check is a real route
of the api, the pre-deploy command migrates both databases as their owners while every service runs
on a runtime role, every service gets each setting it requires in production, no secret is
written, and a change redeploys only the services it touches.
"""

import fnmatch
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from api_service.required_settings import REQUIRED_SETTINGS as API_REQUIRED
from core_config import Settings

ROOT = Path(__file__).resolve().parents[1]
# What a change must touch for `make test-affected` to run these checks (tools/affected.py).
SUBJECTS = ("infra/render", "services/*/Dockerfile")
BLUEPRINT: dict[str, Any] = yaml.safe_load((ROOT / "render.yaml").read_text())
SERVICES = {s["name"]: s for s in BLUEPRINT["services"]}
DOCKER = {name: s for name, s in SERVICES.items() if s.get("runtime") == "docker"}
DATABASES = {d["name"]: d for d in BLUEPRINT["databases"]}
GROUPS = {g["name"]: g for g in BLUEPRINT["envVarGroups"]}
API = next(s for s in DOCKER.values() if s["type"] == "web")
WORKER_REQUIRED = ("database_url_general", "redis_url")
# The account processes (worker-service accounts): the user database and the master key instead.
ACCOUNTS_REQUIRED = ("database_url_user", "redis_url", "render_master_key_path")
ACCOUNTS_COMMAND = "worker-service accounts"
# The runtime roles' URLs (entered in the dashboard) and the owners' (from the instances).
RUNTIME_URLS = {"DATABASE_URL_USER": "user", "DATABASE_URL_GENERAL": "general"}
OWNER_URLS = {"DATABASE_MIGRATION_URL_USER": "user", "DATABASE_MIGRATION_URL_GENERAL": "general"}
RENDER_NOTES = (ROOT / "infra/render/README.md").read_text()
SECRET_FIELDS = {name for name, field in Settings.model_fields.items() if field.annotation is SecretStr}


def env_entries(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The service's envVars with its groups' entries in place of each fromGroup."""
    entries = []
    for entry in service.get("envVars", []):
        if "fromGroup" in entry:
            entries.extend(GROUPS[entry["fromGroup"]]["envVars"])
        else:
            entries.append(entry)
    return entries


def database_of(which: str) -> dict[str, Any]:
    """The instance whose owner migrates the ``which`` ("user", "general") database."""
    key = next(key for key, name in OWNER_URLS.items() if name == which)
    entry = next(e for e in env_entries(API) if e["key"] == key)
    database: dict[str, Any] = DATABASES[entry["fromDatabase"]["name"]]
    return database


def resolved_env(service: dict[str, Any]) -> dict[str, str]:
    """The environment Render would hand the service, with stand-ins for generated values and for
    the runtime roles' URLs entered in the dashboard."""
    env = {}
    for entry in env_entries(service):
        if "value" in entry:
            env[entry["key"]] = str(entry["value"])
        elif "fromDatabase" in entry:
            db = DATABASES[entry["fromDatabase"]["name"]]
            env[entry["key"]] = (
                f"postgresql://{db['user']}:generated@dpg-{db['name']}-a:5432/{db['databaseName']}"
            )
        elif "fromService" in entry:
            env[entry["key"]] = f"redis://red-{entry['fromService']['name']}:6379"
        elif entry.get("sync") is False:
            db = database_of(RUNTIME_URLS[entry["key"]])
            env[entry["key"]] = f"postgresql://runtime:entered@dpg-{db['name']}-a:5432/{db['databaseName']}"
    return env


def test_only_known_top_level_keys() -> None:
    known = {"services", "databases", "envVarGroups", "previews", "projects", "ungrouped", "version"}
    assert set(BLUEPRINT) <= known


def test_every_reference_resolves() -> None:
    for service in BLUEPRINT["services"]:
        for entry in service.get("envVars", []):
            if "fromGroup" in entry:
                assert entry["fromGroup"] in GROUPS
            if "fromDatabase" in entry:
                assert entry["fromDatabase"]["name"] in DATABASES
                assert entry["fromDatabase"]["property"] == "connectionString"
            if "fromService" in entry:
                target = SERVICES[entry["fromService"]["name"]]
                assert target["type"] == entry["fromService"]["type"]


def test_both_databases_are_wired_to_their_settings() -> None:
    wired = {e["key"]: e["fromDatabase"]["name"] for e in API["envVars"] if "fromDatabase" in e}
    assert set(wired) == set(OWNER_URLS)
    assert len(set(wired.values())) == 2, "two separate database instances"
    assert set(wired.values()) == set(DATABASES)
    for key, which in OWNER_URLS.items():
        assert DATABASES[wired[key]]["databaseName"] == f"bybit_{which}"


@pytest.mark.parametrize("name", DOCKER)
def test_services_use_runtime_roles_and_only_migrations_the_owners(name: str) -> None:
    # The instances' connectionString logs in as the owner, who may change the schema: no running
    # service uses it. Its runtime URL is entered by hand (a Blueprint cannot create a role).
    service = DOCKER[name]
    entries = {e["key"]: e for e in env_entries(service)}
    for key in set(RUNTIME_URLS) & set(entries):
        assert entries[key] == {"key": key, "sync": False}, key
    owners = set(OWNER_URLS) & set(entries)
    if "preDeployCommand" in service:
        assert owners == set(OWNER_URLS)
        assert shlex.split(service["preDeployCommand"])[0] == "db-migrate"
    else:
        assert not owners, name


def test_the_render_notes_make_every_runtime_role() -> None:
    # Each role the compose servers make is made on Render by the same script, with the same
    # access; the notes say which URL each one goes into.
    compose = yaml.safe_load((ROOT / "infra/compose/compose.yaml").read_text())["services"]
    made = [
        pair.split(":")
        for server in ("postgres-user", "postgres-general")
        for pair in compose[server]["environment"]["RUNTIME_ROLES"].split()
    ]
    assert len(made) == 4
    assert "infra/postgres/runtime-role.sql" in RENDER_NOTES
    for role, access in made:
        assert f"-v role={role} -v access={access}" in RENDER_NOTES, role
    for key in RUNTIME_URLS:
        assert key in RENDER_NOTES


def test_key_value_is_private_and_never_evicts() -> None:
    (keyvalue,) = [s for s in BLUEPRINT["services"] if s["type"] == "keyvalue"]
    assert keyvalue["ipAllowList"] == []
    assert keyvalue["maxmemoryPolicy"] == "noeviction"
    for service in DOCKER.values():
        redis = next(e for e in env_entries(service) if e["key"] == "REDIS_URL")
        assert redis["fromService"] == {
            "type": "keyvalue",
            "name": keyvalue["name"],
            "property": "connectionString",
        }


@pytest.mark.parametrize("name", DOCKER)
def test_dockerfile_and_context_exist(name: str) -> None:
    service = DOCKER[name]
    context = ROOT / service["dockerContext"]
    dockerfile = ROOT / service["dockerfilePath"]
    assert context.resolve() == ROOT, "the Dockerfiles copy sibling packages from the repository root"
    assert dockerfile.is_file()
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile.read_text(), flags=re.MULTILINE):
        assert (context / source).exists(), source


def test_beat_and_stream_run_alone_and_workers_run_their_commands() -> None:
    workers = [s for s in DOCKER.values() if s["type"] == "worker"]
    commands = {s["dockerCommand"]: s for s in workers}
    assert set(commands) == {
        "worker-service worker",
        "worker-service beat",
        "worker-service stream",
        "worker-service accounts",
    }
    for single in ("worker-service beat", "worker-service stream"):
        assert commands[single]["numInstances"] == 1
        assert "scaling" not in commands[single]


def test_health_check_path_is_a_route_of_the_api() -> None:
    api_service = pytest.importorskip("api_service")
    if not hasattr(api_service, "create_app"):
        pytest.skip("api_service has no app factory yet: the route cannot be checked")
    app = api_service.create_app(Settings(_env_file=None, environment="test"))
    # The OpenAPI document lists every route of every included router, with its methods.
    paths = app.openapi()["paths"]
    assert "get" in paths.get(API["healthCheckPath"], {}), sorted(paths)


def test_health_check_path_stays_200_when_only_optional_dependencies_fail() -> None:
    # Render takes an instance out of rotation on anything but 2xx: the path it checks must
    # answer 200 "degraded" when only Redis (syncs, task status) is down; services/api's
    # test_health runs that for real. Here: the Blueprint points at the route documenting it.
    api_service = pytest.importorskip("api_service")
    app = api_service.create_app(Settings(_env_file=None, environment="test"))
    document = app.openapi()
    operation = document["paths"][API["healthCheckPath"]]["get"]
    assert set(operation["responses"]) >= {"200", "503"}
    ready = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    statuses = document["components"]["schemas"][ready]["properties"]["status"]["enum"]
    assert set(statuses) == {"ready", "degraded", "unavailable"}
    check = document["components"]["schemas"]["CheckOut"]["properties"]
    assert "required" in check


def test_pre_deploy_migrates_both_databases() -> None:
    assert shlex.split(API["preDeployCommand"]) == ["db-migrate", "upgrade"]
    # Without a name, db-migrate upgrades every database registered in the entry-point group;
    # the api image must carry both registrations.
    dockerfile = (ROOT / API["dockerfilePath"]).read_text()
    registered = set()
    for folder in re.findall(r"^COPY (packages/\S+)", dockerfile, flags=re.MULTILINE):
        project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
        registered |= set(project.get("entry-points", {}).get("db_core.databases", {}))
        if "db-migrate" in project.get("scripts", {}):
            registered.add("(db-migrate)")
    assert registered == {"user", "general", "(db-migrate)"}


@pytest.mark.parametrize("name", DOCKER)
def test_every_required_setting_is_provided(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    env = resolved_env(DOCKER[name])
    for key, value in env.items():
        assert key.lower() in Settings.model_fields, f"{key} is not a setting"
        monkeypatch.setenv(key, value)

    settings = Settings(_env_file=None)  # raises when production lacks a required setting

    assert settings.environment == "production"
    if DOCKER[name] is API:
        settings.require(*API_REQUIRED)  # raises naming what the api lacks
        assert settings.render_master_key_path.parent == Path("/etc/secrets")
    elif DOCKER[name].get("dockerCommand") == ACCOUNTS_COMMAND:
        settings.require(*ACCOUNTS_REQUIRED)
        assert settings.render_master_key_path.parent == Path("/etc/secrets")
    else:
        settings.require(*WORKER_REQUIRED)


@pytest.mark.parametrize("name", list(DOCKER))
def test_only_the_api_and_the_accounts_get_the_user_database_and_the_master_key(name: str) -> None:
    keys = {entry["key"] for entry in env_entries(DOCKER[name])}
    if DOCKER[name] is API:
        assert {"DATABASE_URL_USER", "RENDER_MASTER_KEY_PATH"} <= keys
    elif DOCKER[name].get("dockerCommand") == ACCOUNTS_COMMAND:
        # The user database and the master key, never the general database or an owner's URL.
        assert {"DATABASE_URL_USER", "RENDER_MASTER_KEY_PATH"} <= keys
        assert not keys & {"DATABASE_URL_GENERAL", "DATABASE_MIGRATION_URL_USER"}
    else:
        assert not keys & {"DATABASE_URL_USER", "DATABASE_MIGRATION_URL_USER", "RENDER_MASTER_KEY_PATH"}, name


def test_no_secret_value_is_written() -> None:
    for service in BLUEPRINT["services"]:
        for entry in env_entries(service):
            if "value" in entry:
                assert entry["key"].lower() not in SECRET_FIELDS, f"{entry['key']} is written in clear"
                assert not re.search(r"://[^/\s]*@", str(entry["value"])), entry["key"]
    text = (ROOT / "render.yaml").read_text()
    assert not re.search(r"(?i)(password|secret|token)\s*:", text)


def deployed_by(path: str) -> set[str]:
    """The docker services a change to `path` redeploys, per their buildFilter."""
    names = set()
    for name, service in DOCKER.items():
        build_filter = service["buildFilter"]
        if any(fnmatch.fnmatch(path, p) for p in build_filter["paths"]) and not any(
            fnmatch.fnmatch(path, p) for p in build_filter.get("ignoredPaths", [])
        ):
            names.add(name)
    return names


def services_using(folder: str) -> set[str]:
    return {
        name
        for name, service in DOCKER.items()
        if re.search(rf"^COPY {re.escape(folder)} ", (ROOT / service["dockerfilePath"]).read_text(), re.M)
    }


def test_build_filters_follow_what_each_image_copies() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "packages", "services"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked
    for path in tracked:
        folder = "/".join(path.split("/")[:2])
        expected = services_using(folder) if "/tests/" not in path else set()
        assert deployed_by(path) == expected, path


def test_a_worker_change_leaves_the_api_alone_and_the_reverse() -> None:
    api_only = {API["name"]}
    workers = {name for name, s in DOCKER.items() if s["type"] == "worker"}
    assert deployed_by("services/worker/src/worker_service/tasks.py") == workers
    assert deployed_by("services/api/src/api_service/app.py") == api_only
    # The worker image installs db-user for its account processes.
    assert deployed_by("packages/db-user/src/db_user/models.py") == api_only | workers
    assert deployed_by("packages/core-config/src/core_config/settings.py") == api_only | workers
    assert deployed_by("services/api/tests/test_health.py") == set()


def test_shutdown_delays_leave_room_for_a_clean_stop() -> None:
    api_service = pytest.importorskip("api_service.serve")
    worker = next(s for s in DOCKER.values() if s.get("dockerCommand") == "worker-service worker")
    defaults = Settings.model_fields
    # The worker checks its soft shutdown against WORKER_SHUTDOWN_DELAY: it must be this delay.
    assert "WORKER_SHUTDOWN_DELAY" not in resolved_env(worker)
    assert worker["maxShutdownDelaySeconds"] == defaults["worker_shutdown_delay"].default
    assert defaults["worker_soft_shutdown_timeout"].default < worker["maxShutdownDelaySeconds"]
    # The API finishes requests in flight before Render stops waiting.
    assert API["maxShutdownDelaySeconds"] > api_service.GRACEFUL_SHUTDOWN_SECONDS

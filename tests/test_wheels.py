"""Each package and service is releasable on its own: `make dist` builds it, its wheel names its
siblings by name and version range, and installed alone into a fresh virtual environment, with its
declared dependencies only, every module of it imports (a missing declaration fails here, not in
production). The wheels are built once per run and the third-party wheels fetched once (pip, through
the configured index and its cache); uv installs each environment from those files alone.
"""

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from workspace import Project, load  # noqa: E402 - found through the path above

SUBJECTS = (
    "packages/*/pyproject.toml",
    "services/*/pyproject.toml",
    "packages/*/src",
    "services/*/src",
    "tools/dist.py",
)
WORKSPACE = load(ROOT)
# uv makes each fresh environment in about a second from its cache (pip took ~30 s per wheel).
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
PROJECTS = WORKSPACE.order()
# Modules not meant to be imported on their own: Alembic runs the migration environments, `python
# -m` runs __main__, the fake exchange needs bybit-client's `testing` extra, the Redis budget its
# `redis` extra and its telemetry its `telemetry` extra.
NOT_IMPORTED_ALONE = (
    ".migrations",
    ".__main__",
    "bybit_client.testing",
    "bybit_client.redis_budget",
    "bybit_client.telemetry",
)
# Test doubles ship in a runtime wheel only as bybit-client's public `testing` extra (the fake
# exchange, which users of the client want); every other test helper lives in test-support.
PUBLIC_TEST_SUPPORT = ("bybit_client/testing/",)
IMPORT_EVERY_MODULE = f"""
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, sys.argv[1] + "."):
    if not any(part in module.name for part in {NOT_IMPORTED_ALONE!r}):
        importlib.import_module(module.name)
print("imported", sys.argv[1])
"""


def test_every_project_is_found() -> None:
    assert {p.name for p in PROJECTS} >= {
        "core-config",
        "db-core",
        "db-user",
        "db-general",
        "bybit-client",
        "api-service",
        "worker-service",
    }


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make dist` of every project (its sibling and twine checks included), once per run."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/dist.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def wheel_of(project: Project, wheelhouse: Path) -> Path:
    return next(wheelhouse.glob(f"{project.name.replace('-', '_')}-{project.version}-*.whl"))


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_wheel_and_sdist_are_built(project: Project, wheelhouse: Path) -> None:
    assert (wheelhouse / f"{project.name.replace('-', '_')}-{project.version}.tar.gz").is_file()
    with zipfile.ZipFile(wheel_of(project, wheelhouse)) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(name.startswith(f"{project.module}/") for name in names)
    test_support = [
        name
        for name in names
        if any(part in {"testing", "testing.py", "conftest.py", "tests"} for part in name.split("/"))
        and not name.startswith(PUBLIC_TEST_SUPPORT)
    ]
    assert test_support == [], f"test helpers in the runtime wheel: {test_support}"
    requires = [
        Requirement(line.split(": ", 1)[1])
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    siblings = {r.name: r for r in requires if r.name in WORKSPACE.projects}
    assert set(siblings) == set(project.depends_on)
    for name, requirement in siblings.items():
        assert requirement.url is None, requirement
        assert WORKSPACE.projects[name].version in requirement.specifier, requirement
        assert requirement.specifier.contains("0.0.1") is False, f"{requirement} names no lower bound"


@pytest.fixture(scope="session")
def dependency_pool(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every third-party wheel any of our wheels requires, fetched once with pip through the
    configured index (and pip's cache), so that each fresh environment installs from disk."""
    pool = tmp_path_factory.mktemp("pool")
    ours = sorted(str(p) for p in wheelhouse.glob("*.whl"))  # our wheels by file: never the index's names
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(pool), *ours],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return pool


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_wheel_installs_alone_and_imports(
    project: Project, wheelhouse: Path, dependency_pool: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    # The wheel and the wheels of the siblings it depends on, and from the pool (no index) whatever
    # their metadata requires: nothing else reaches the environment.
    wheels = [wheel_of(WORKSPACE.projects[name], wheelhouse) for name in {project.name} | closure(project)]
    uv_pip = [UV, "pip", "--quiet"]
    result = subprocess.run(
        [*uv_pip, "install", "--python", str(python), "--no-index", "--find-links", str(dependency_pool)]
        + [str(wheel) for wheel in wheels],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    checked = subprocess.run(
        [*uv_pip, "check", "--python", str(python)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    imported = subprocess.run(
        [str(python), "-c", IMPORT_EVERY_MODULE, project.module], capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == f"imported {project.module}"


def closure(project: Project) -> set[str]:
    found: set[str] = set()
    todo = list(project.depends_on)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += WORKSPACE.projects[name].depends_on
    return found


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_siblings_imported_are_declared(project: Project) -> None:
    """A sibling imported only through another's dependencies would break when that one drops it."""
    modules = {p.module: p.name for p in PROJECTS if p is not project}
    imported = set()
    for file in (ROOT / project.folder / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
    assert {modules[m] for m in imported if m in modules} <= set(project.depends_on)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_changelog_names_the_current_version(project: Project) -> None:
    """The version bump rule (README, "Releasing a package"): every version has its changelog entry."""
    changelog = (ROOT / project.folder / "CHANGELOG.md").read_text()
    headings = [line for line in changelog.splitlines() if line.startswith("## ")]
    released = [h for h in headings if not h.startswith("## Unreleased")]
    assert released, "no released version in the changelog"
    assert released[0].split()[1] == project.version, "the newest entry is not the pyproject version"


def test_sibling_ranges_follow_the_bump_rule() -> None:
    """Each sibling range admits the sibling's current version and excludes its next breaking one."""
    for project in PROJECTS:
        declared = tomllib.loads((ROOT / project.folder / "pyproject.toml").read_text())["project"][
            "dependencies"
        ]
        for requirement in map(Requirement, declared):
            if requirement.name not in WORKSPACE.projects:
                continue
            version = WORKSPACE.projects[requirement.name].version
            assert version in requirement.specifier, f"{project.name}: {requirement}"
            assert next_breaking(version) not in requirement.specifier, f"{project.name}: {requirement}"


def next_breaking(version: str) -> str:
    """0.x: the next minor version; from 1.0: the next major."""
    major, minor, _ = (int(part) for part in version.split("."))
    return f"0.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"

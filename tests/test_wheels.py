"""Every package and service builds a wheel that requires its siblings by name, never by path."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = sorted(
    p.parent for p in ROOT.glob("*/*/pyproject.toml") if p.parts[-3] in {"packages", "services"}
)
SIBLINGS = {tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"] for p in PROJECTS}

BUILD = "import sys; from poetry.core.masonry.api import build_wheel; print(build_wheel(sys.argv[1]))"


def test_every_project_is_found() -> None:
    assert {
        "core-config",
        "db-user",
        "db-general",
        "bybit-client",
        "api-service",
        "worker-service",
    } <= SIBLINGS


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_wheel_requires_siblings_by_name(project: Path, tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path)], cwd=project, capture_output=True, text=True, check=True
    )
    wheel = tmp_path / built.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
        names = archive.namelist()
    requires = [
        line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")
    ]
    config = tomllib.loads((project / "pyproject.toml").read_text())
    declared = config["project"]["dependencies"]
    sibling_deps = {d for d in declared if d in SIBLINGS}
    for requirement in requires:
        assert "@" not in requirement, requirement
        assert "file:" not in requirement, requirement
    assert sibling_deps <= {r.split(";")[0].strip() for r in requires}
    module = config["tool"]["poetry"]["packages"][0]["include"]
    assert any(n.startswith(f"{module}/") for n in names)

"""CODEOWNERS gives each path of the README's "Layout and owners" table to the team named there,
and every package and service to a team of its own line."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from workspace import load  # noqa: E402 - found through the path above

SUBJECTS = ("CODEOWNERS", "README.md")
ORGANISATION = "@bybit-backend"
RULES = [
    (line.split()[0], line.split()[1:])
    for line in (ROOT / "CODEOWNERS").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
TABLE_ROW = re.compile(r"^\| `([^`]+)` \|[^|]*\| ([a-z ]+) \|", re.MULTILINE)
LAYOUT = (ROOT / "README.md").read_text().split("## Layout and owners", 1)[1].split("\n## ", 1)[0]
README_OWNERS = dict(TABLE_ROW.findall(LAYOUT))
TEAMS = sorted({team for team in README_OWNERS.values() if team != "everyone"})


def handle(team: str) -> str:
    return f"{ORGANISATION}/{team.replace(' ', '-')}"


def owners_of(path: str) -> list[str]:
    """GitHub's rule for the patterns used here: the last matching line wins."""
    found: list[str] = []
    for pattern, owners in RULES:
        anchored = pattern.lstrip("/")
        if pattern == "*" or path == anchored or (anchored.endswith("/") and path.startswith(anchored)):
            found = owners
    return found


def test_the_readme_table_is_read() -> None:
    assert README_OWNERS["packages/db-user"] == "accounts"
    assert "platform" in TEAMS


@pytest.mark.parametrize(("path", "team"), sorted(README_OWNERS.items()))
def test_each_path_is_owned_by_the_team_the_readme_names(path: str, team: str) -> None:
    inside = path if "." in Path(path).name else f"{path.rstrip('/')}/some/file.py"
    expected = [handle(t) for t in TEAMS] if team == "everyone" else [handle(team)]
    assert sorted(owners_of(inside)) == sorted(expected)


def test_every_project_and_the_lock_have_an_owner() -> None:
    for project in load(ROOT).projects.values():
        assert project.folder in README_OWNERS, f"{project.folder} is missing from the README table"
        assert owners_of(f"{project.folder}/pyproject.toml") == [handle(README_OWNERS[project.folder])]
    assert owners_of("poetry.lock") == [handle("platform")]
    assert owners_of("render.yaml") == [handle("platform")]

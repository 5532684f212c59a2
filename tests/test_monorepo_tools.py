"""The monorepo's own tools on scratch copies: `make test-affected`'s selection on a scratch git
history, `make lint`'s contract step on a copy with an import that breaks the layering, and
`make graph`.
"""

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
SUBJECTS = ("tools", "Makefile", "pyproject.toml")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch repository with the packages, the services and the cross-package tests committed
    on `main`, and a branch `feature` checked out."""
    repo = tmp_path_factory.mktemp("history")
    for folder in ("packages", "services"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "tests").mkdir()
    for test in ROOT.glob("tests/test_*.py"):
        shutil.copy(test, repo / "tests" / test.name)
    (repo / "Makefile").write_text("all:\n")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "start")
    git(repo, "checkout", "--quiet", "-b", "feature")
    return repo


def affected(repo: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(TOOLS / "affected.py"), "--root", str(repo), "--json", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    selection: dict[str, Any] = json.loads(result.stdout)
    return selection


def change(repo: Path, path: str, message: str) -> str:
    """Commit a change to ``path`` (a line appended, or a new file); return the commit before it."""
    before = git(repo, "rev-parse", "HEAD").strip()
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("a") as out:
        out.write(f"# {message}\n")
    git(repo, "add", path)
    git(repo, "commit", "--quiet", "-m", message)
    return before


def test_a_bybit_client_change_selects_its_dependents_and_the_tests_using_it(history: Path) -> None:
    base = change(history, "packages/bybit-client/src/bybit_client/core.py", "client change")

    selection = affected(history, "--base", base)

    projects = selection["projects"]
    assert set(projects) >= {"bybit-client", "api-service", "worker-service"}
    assert not set(projects) & {"core-config", "db-core", "db-general"}
    assert projects["bybit-client"] == "changed: packages/bybit-client/src/bybit_client/core.py"
    assert projects["worker-service"] == "imports bybit_client, which changed"
    # db-user writes Bybit's own records of an account (bybit_client.models): it is affected;
    # core-config depends on bybit-client for its terms alone (bybit_client.enums).
    assert projects["db-user"] == "imports bybit_client, which changed"
    assert "depends on bybit-client" in selection["ignored"]["core-config"]
    tests = selection["tests"]
    assert "tests/test_sync_api.py" in tests  # imports api_service and bybit_client
    assert "tests/test_secrets_hygiene.py" in tests
    assert "tests/test_local_stack.py" not in tests  # core-config and the stack only
    assert selection["everything"] == []
    paths = selection["paths"]
    assert "packages/bybit-client/tests" in paths
    assert "packages/db-user/tests" in paths


def test_the_default_base_is_the_merge_base_with_main(history: Path) -> None:
    """Uncommitted and untracked files count as changed too."""
    (history / "packages/db-user/src/db_user/new_module.py").write_text("")
    try:
        selection = affected(history)
    finally:
        (history / "packages/db-user/src/db_user/new_module.py").unlink()
    projects = selection["projects"]
    assert {"bybit-client", "db-user", "api-service"} <= set(projects)
    assert "db-general" not in projects
    assert "db-core" not in projects


def test_a_change_to_the_terms_reaches_everything_that_imports_them(history: Path) -> None:
    base = change(history, "packages/bybit-client/src/bybit_client/enums.py", "terms change")
    projects = affected(history, "--base", base)["projects"]
    assert set(projects) >= {
        "bybit-client",
        "core-config",
        "db-core",
        "db-user",
        "db-general",
        "api-service",
        "worker-service",
    }
    assert projects["core-config"] == "imports bybit_client.enums, reaching bybit_client.enums"


def test_a_project_dependency_change_reaches_every_dependent(history: Path) -> None:
    base = change(history, "packages/db-core/pyproject.toml", "dependency change")
    projects = affected(history, "--base", base)["projects"]
    assert set(projects) == {"db-core", "db-user", "db-general", "api-service", "worker-service"}
    assert projects["db-user"] == "depends on db-core"


def test_a_root_file_means_everything_and_a_document_nothing(history: Path) -> None:
    base = change(history, "Makefile", "root change")
    assert affected(history, "--base", base)["everything"] == ["Makefile"]

    base = change(history, "README.md", "docs")
    selection = affected(history, "--base", base)
    assert (selection["everything"], selection["projects"], selection["tests"]) == ([], {}, {})
    assert selection["ignored"] == {"README.md": "documentation"}


def test_a_file_a_test_names_in_subjects_selects_that_test_only(history: Path) -> None:
    base = change(history, "infra/compose/compose.yaml", "compose change")
    selection = affected(history, "--base", base)
    assert selection["everything"] == []
    assert selection["projects"] == {}
    assert set(selection["tests"]) == {"tests/test_compose.py"}


def test_the_report_says_why(history: Path) -> None:
    base = change(history, "packages/db-general/src/db_general/klines.py", "general change")
    result = subprocess.run(
        [sys.executable, str(TOOLS / "affected.py"), "--root", str(history), "--base", base],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "db-general: changed: packages/db-general/src/db_general/klines.py" in result.stdout
    assert "worker-service: imports db_general, which changed" in result.stdout
    assert "db-user" not in result.stdout


@pytest.fixture
def scratch_copy(tmp_path: Path) -> Path:
    """The sources, the Makefile and pyproject.toml in a scratch folder, with this environment."""
    for item in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / item, tmp_path / item)
    for folder in ("packages", "services"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("tests", "__pycache__")
        )
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(folder), "lint-imports"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_import_breaking_a_contract_fails_the_lint_step(scratch_copy: Path) -> None:
    users = scratch_copy / "packages/db-user/src/db_user/users.py"
    users.write_text(
        users.read_text() + "\nimport api_service  # noqa: E402\nimport db_general  # noqa: E402\n"
    )

    result = lint_imports(scratch_copy)

    assert result.returncode != 0
    report = " ".join(result.stdout.split())  # long names wrap
    assert (
        "Layers: services above packages, database packages above db-core, core-config at the bottom BROKEN"
        in report
    )
    assert "db-user and db-general never import each other BROKEN" in report
    assert "Services never import each other KEPT" in report
    assert "db_user.users -> api_service" in report


def test_the_untouched_copy_keeps_every_contract(scratch_copy: Path) -> None:
    result = lint_imports(scratch_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_graph_shows_each_project_with_what_it_uses() -> None:
    result = subprocess.run(
        [sys.executable, str(TOOLS / "graph.py")], capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    heads = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert set(heads) >= {"core-config", "db-core", "db-user", "db-general", "bybit-client", "api-service"}
    db_user = lines.index(next(line for line in lines if line.startswith("db-user ")))
    declared = tomllib.loads((ROOT / "packages/db-user/pyproject.toml").read_text())["tool"]["poetry"]
    path_dependencies = sorted(n for n, spec in declared["dependencies"].items() if "path" in spec)
    assert lines[db_user + 1].split(":", 1)[1].strip().split(", ") == path_dependencies
    assert heads.index("core-config") < heads.index("db-core") < heads.index("db-user")  # build order

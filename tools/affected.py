"""`make test-affected`: test only what a change can break, and say why each part was chosen.

usage: affected.py [--base REF] [--root DIR] [--json] [-- TEST COMMAND ...]

The change is everything between ``REF`` (default: the merge base of HEAD with ``main``) and the
working tree, uncommitted and untracked files included. Rules, in order, for each changed file:

1. A file at the repository root (the lock, pyproject.toml, the Makefile, conftest.py, render.yaml,
   ...) other than a Markdown document, or one under ``.ci/``, ``tools/``, ``test-support/`` or
   ``infra/local/`` (the test machinery itself), means everything: the whole suite runs.
2. A file of a package or service selects that project. Its dependents are the projects that
   depend on it through the path dependencies of the pyproject.toml files (read, never listed by
   hand), each selected when what it imports of the changed project reaches the change: a change
   of anything but Python modules (pyproject.toml, data files), or an import of the package
   itself (which may load any module lazily), reaches everything; ``from bybit_client.enums
   import ...`` reaches ``bybit_client.enums``, its packages' ``__init__`` and what they import.
   A changed test or document of a project selects that project only. A selected dependent
   counts as wholly changed for its own dependents.
3. A changed cross-package test under ``tests/`` selects itself; benchmarks (``tests/bench``) and
   Markdown documents select nothing.
4. A cross-package test is selected when its imports reach a selected project's change (as in 2),
   or when a changed file matches one of the repository paths (glob patterns) in its module's
   ``SUBJECTS`` (tests that read files rather than import code: Dockerfiles, compose, the wheels).
5. Any other file (a path no rule claims) means everything.

Prints what it chose and why, then runs ``TEST COMMAND`` followed by the selected test paths
(nothing to run: exit 0). With ``--json``, prints the selection as JSON and runs nothing.
"""

import argparse
import ast
import fnmatch
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imports import ProjectModules, imported_names
from workspace import Workspace, load

WHOLE_SUITE_FOLDERS = (".ci/", "tools/", "test-support/", "infra/local/")
CROSS_TESTS = "tests"
BENCHMARKS = "tests/bench/"


@dataclass
class Selection:
    everything: list[str] = field(default_factory=list)  # why the whole suite runs, when it does
    projects: dict[str, str] = field(default_factory=dict)  # project name -> why
    tests: dict[str, str] = field(default_factory=dict)  # cross-package test path -> why
    ignored: dict[str, str] = field(default_factory=dict)  # changed file -> why it selects nothing

    def paths(self, workspace: Workspace) -> list[str]:
        if self.everything:
            return []  # pytest's own test paths: the whole suite
        project_tests = [f"{workspace.projects[name].folder}/tests" for name in sorted(self.projects)]
        return [p for p in project_tests if (workspace.root / p).is_dir()] + sorted(self.tests)

    def as_json(self, workspace: Workspace) -> dict[str, object]:
        return {
            "everything": self.everything,
            "projects": self.projects,
            "tests": self.tests,
            "ignored": self.ignored,
            "paths": self.paths(workspace),
        }


def _git(root: Path, *args: str) -> str:
    command = ["git", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=True).stdout  # noqa: S603


def default_base(root: Path) -> str:
    try:
        return _git(root, "merge-base", "HEAD", "main").strip()
    except subprocess.CalledProcessError:
        raise SystemExit("no merge base with `main`: pass BASE=<git ref>") from None


def changed_files(root: Path, base: str) -> list[str]:
    """Files differing between ``base`` and the working tree, untracked ones included."""
    try:
        tracked = _git(root, "diff", "--name-only", "--no-renames", base, "--").splitlines()
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"cannot compare with {base!r}: {exc.stderr.strip()}") from None
    untracked = _git(root, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted(set(tracked) | set(untracked))


@dataclass(frozen=True)
class CrossTest:
    path: str
    imports: frozenset[str]  # dotted names, as imported_names gives them
    subjects: tuple[str, ...]


def cross_tests(root: Path) -> list[CrossTest]:
    found = []
    for file in sorted((root / CROSS_TESTS).glob("test_*.py")):
        subjects: tuple[str, ...] = ()
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Assign | ast.AnnAssign) and _assigns(node, "SUBJECTS"):
                assert node.value is not None
                subjects = tuple(ast.literal_eval(node.value))
        found.append(CrossTest(file.relative_to(root).as_posix(), frozenset(imported_names(file)), subjects))
    return found


def _assigns(node: ast.Assign | ast.AnnAssign, name: str) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def matches(path: str, pattern: str) -> bool:
    """``pattern`` names ``path`` itself or one of its folders."""
    parts = path.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))


def _listing(paths: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")


def _classify(
    workspace: Workspace, changed: Iterable[str], test_paths: set[str], selection: Selection
) -> tuple[dict[str, list[str]], list[str]]:
    """Rules 1 to 3: the changed files of each project, and the files no rule claims."""
    by_project: dict[str, list[str]] = {}
    unclaimed: list[str] = []
    for path in changed:
        project = workspace.owner_of(path)
        if project is not None:
            by_project.setdefault(project.name, []).append(path)
        elif path.endswith(".md"):
            selection.ignored[path] = "documentation"
        elif "/" not in path or path.startswith(WHOLE_SUITE_FOLDERS):
            selection.everything.append(path)
        elif path.startswith(BENCHMARKS):
            selection.ignored[path] = "a benchmark (`make bench`), not a test"
        elif path in test_paths:
            selection.tests[path] = "changed"
        else:
            unclaimed.append(path)
    return by_project, unclaimed


@dataclass
class Change:
    """How a project changed: ``modules`` (dotted names) when only Python modules of its ``src``
    changed (besides its tests and documents); None when anything else did (its pyproject.toml,
    a data file), or when it is selected through a dependency: then all of it counts as changed."""

    modules: set[str] | None = field(default_factory=set)


def _change_of(workspace: Workspace, name: str, paths: list[str]) -> Change:
    project = workspace.projects[name]
    change = Change()
    for path in paths:
        inner = path.removeprefix(project.folder + "/")
        if inner.startswith("tests/") or inner.endswith(".md"):
            continue  # the project's own tests and documents: nobody else runs them
        if inner.startswith("src/") and inner.endswith(".py") and change.modules is not None:
            parts = inner.removeprefix("src/").removesuffix(".py").split("/")
            change.modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        else:
            change.modules = None
    return change


def _imports_of_project(workspace: Workspace, name: str) -> set[str]:
    """Dotted names the sources and the tests of a project import."""
    folder = workspace.root / workspace.projects[name].folder
    return {n for file in folder.glob("*/**/*.py") for n in imported_names(file)}


def _reaches(
    workspace: Workspace,
    imported: set[str],
    dependency: str,
    change: Change,
    modules: dict[str, ProjectModules],
) -> str | None:
    """Why importing ``imported`` reaches the change of ``dependency``, or None when it does not."""
    root = workspace.projects[dependency].module
    names = {n for n in imported if n == root or n.startswith(root + ".")}
    if not names:
        return None
    if change.modules is None:
        return f"depends on {dependency}"
    if not change.modules:
        return None  # only its tests or documents changed
    if dependency not in modules:
        modules[dependency] = ProjectModules(workspace.root / workspace.projects[dependency].folder / "src")
    reached = modules[dependency].reached_by(modules[dependency].modules_of(names))
    if reached is None:
        return f"imports {root}, which changed"
    hit = sorted(reached & change.modules)
    return (
        f"imports {', '.join(sorted(modules[dependency].modules_of(names)))}, reaching {_listing(hit)}"
        if hit
        else None
    )


def select(workspace: Workspace, changed: Iterable[str]) -> Selection:
    selection = Selection()
    tests = cross_tests(workspace.root)
    by_project, unclaimed = _classify(workspace, changed, {t.path for t in tests}, selection)
    changes: dict[str, Change] = {}
    for name, paths in sorted(by_project.items()):
        selection.projects[name] = f"changed: {_listing(paths)}"
        changes[name] = _change_of(workspace, name, paths)
    modules: dict[str, ProjectModules] = {}
    for project in workspace.order():  # dependencies are decided before their dependents
        if project.name in changes:
            continue
        affected_through = [p for p in project.depends_on if p in changes]
        imported = _imports_of_project(workspace, project.name) if affected_through else set()
        for dependency in affected_through:
            why = _reaches(workspace, imported, dependency, changes[dependency], modules)
            if why is not None:
                selection.projects[project.name] = why
                changes[project.name] = Change(modules=None)
                break
        else:
            if affected_through:
                selection.ignored[project.name] = (
                    f"depends on {', '.join(affected_through)}, but imports nothing of what changed"
                )
    changed_files = [*unclaimed, *(path for paths in by_project.values() for path in paths)]
    for test in tests:
        if test.path in selection.tests:
            continue
        reasons = [
            why
            for name in changes
            if (why := _reaches(workspace, set(test.imports), name, changes[name], modules))
        ]
        named = sorted(path for path in changed_files if any(matches(path, s) for s in test.subjects))
        if reasons:
            selection.tests[test.path] = reasons[0]
        elif named:
            selection.tests[test.path] = f"its SUBJECTS name {_listing(named)}"
    selection.everything += [
        path for path in unclaimed if not any(matches(path, s) for t in tests for s in t.subjects)
    ]
    return selection


def report(selection: Selection, base: str) -> str:
    lines = [f"changes since {base}:"]
    if selection.everything:
        lines.append(f"  everything: shared files changed: {_listing(selection.everything)}")
    else:
        lines += [f"  {name}: {why}" for name, why in selection.projects.items()]
        lines += [f"  {path}: {why}" for path, why in selection.tests.items()]
        if not selection.projects and not selection.tests:
            lines.append("  nothing to test")
    lines += [f"  (not tested: {path}, {why})" for path, why in selection.ignored.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args:
        command = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    parser = argparse.ArgumentParser(description="Test what changed since a git ref, and what depends on it.")
    parser.add_argument("--base", default="", help="git ref to compare with (default: merge base with main)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--json", action="store_true", help="print the selection as JSON, run nothing")
    options = parser.parse_args(args)
    root = options.root.resolve()
    workspace = load(root)
    base = options.base or default_base(root)
    selection = select(workspace, changed_files(root, base))
    if options.json:
        print(json.dumps(selection.as_json(workspace), indent=2))
        return 0
    print(report(selection, options.base or f"merge base with main ({base[:12]})"), flush=True)
    paths = selection.paths(workspace)
    if not selection.everything and not paths:
        return 0
    if not command:
        print(" ".join(paths) or "(the whole suite)")
        return 0
    return subprocess.call([*command, *paths])  # noqa: S603 - the Makefile's own test command


if __name__ == "__main__":
    raise SystemExit(main())

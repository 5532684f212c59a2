"""The monorepo's projects and how they depend on each other, read from their pyproject.toml files.

A project is a folder under ``packages/`` or ``services/`` with a ``pyproject.toml``. Its
dependencies on siblings are its Poetry path dependencies (``[tool.poetry.dependencies]`` entries
with a ``path``), the same declarations the workspace installs from; nothing here is kept by hand.
"""

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

PROJECT_FOLDERS = ("packages", "services")


@dataclass(frozen=True)
class Project:
    name: str  # the distribution, e.g. "db-user"
    folder: str  # relative to the root, e.g. "packages/db-user"
    module: str  # the import name, e.g. "db_user"
    version: str
    depends_on: tuple[str, ...]  # sibling distributions, from the path dependencies


@dataclass(frozen=True)
class Workspace:
    root: Path
    projects: dict[str, Project]

    @cached_property
    def dependents(self) -> dict[str, tuple[str, ...]]:
        """For each project, the siblings that depend on it directly."""
        found: dict[str, list[str]] = {name: [] for name in self.projects}
        for project in self.projects.values():
            for dependency in project.depends_on:
                found[dependency].append(project.name)
        return {name: tuple(sorted(names)) for name, names in found.items()}

    def dependents_closure(self, names: Iterable[str]) -> dict[str, str]:
        """Every project depending on ``names`` directly or not, each with the sibling it was reached from."""
        reached: dict[str, str] = {}
        todo = list(names)
        while todo:
            name = todo.pop()
            for dependent in self.dependents[name]:
                if dependent not in reached:
                    reached[dependent] = name
                    todo.append(dependent)
        return reached

    def owner_of(self, path: str) -> Project | None:
        """The project a repository path belongs to, if any."""
        for project in self.projects.values():
            if path == project.folder or path.startswith(project.folder + "/"):
                return project
        return None

    def by_module(self, module: str) -> Project | None:
        return next((p for p in self.projects.values() if p.module == module), None)

    def order(self) -> list[Project]:
        """The projects, each after everything it depends on (ties by name)."""
        done: list[str] = []
        remaining = dict(self.projects)
        while remaining:
            ready = sorted(n for n, p in remaining.items() if set(p.depends_on) <= set(done))
            if not ready:
                raise ValueError(f"dependency cycle among {', '.join(sorted(remaining))}")
            done.extend(ready)
            for name in ready:
                del remaining[name]
        return [self.projects[name] for name in done]


def load(root: Path) -> Workspace:
    root = root.resolve()
    folders = sorted(
        pyproject.parent for top in PROJECT_FOLDERS for pyproject in (root / top).glob("*/pyproject.toml")
    )
    configs = {folder: tomllib.loads((folder / "pyproject.toml").read_text()) for folder in folders}
    names = {folder.resolve(): config["project"]["name"] for folder, config in configs.items()}
    projects: dict[str, Project] = {}
    for folder, config in configs.items():
        poetry = config.get("tool", {}).get("poetry", {})
        depends_on = []
        for dependency, spec in poetry.get("dependencies", {}).items():
            if isinstance(spec, dict) and "path" in spec:
                target = (folder / spec["path"]).resolve()
                if target not in names:
                    raise ValueError(f"{folder.name}: path dependency {dependency} is not a project")
                depends_on.append(names[target])
        name = config["project"]["name"]
        projects[name] = Project(
            name=name,
            folder=folder.relative_to(root).as_posix(),
            module=poetry["packages"][0]["include"],
            version=config["project"]["version"],
            depends_on=tuple(sorted(depends_on)),
        )
    return Workspace(root, projects)

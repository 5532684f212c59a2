"""`make graph`: the packages and services, what each depends on and what depends on it.

Read from the path dependencies of the pyproject.toml files, in build order (each project after
everything it depends on). ``--dot`` prints Graphviz instead of text.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

from workspace import Workspace, load


def text(workspace: Workspace) -> str:
    lines = []
    for project in workspace.order():
        lines.append(f"{project.name} {project.version} ({project.folder}, import {project.module})")
        lines.append(f"    uses:    {', '.join(project.depends_on) or '-'}")
        lines.append(f"    used by: {', '.join(workspace.dependents[project.name]) or '-'}")
    return "\n".join(lines)


def dot(workspace: Workspace) -> str:
    edges = [
        f'  "{project.name}" -> "{dependency}";'
        for project in workspace.order()
        for dependency in project.depends_on
    ]
    return "\n".join(["digraph packages {", "  rankdir=BT;", *edges, "}"])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    workspace = load(Path(__file__).resolve().parents[1])
    print(dot(workspace) if "--dot" in args else text(workspace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

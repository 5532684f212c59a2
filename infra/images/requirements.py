"""Writes each service's requirements.txt: its own third-party dependencies, pinned with hashes.

`poetry export` gives every runtime dependency of the workspace, pinned from poetry.lock with
hashes and markers. Each service keeps only the packages its dependency tree reaches in
poetry.lock (extras followed), so the worker image never installs the api's web server. Sibling
packages are left out: the images build them as wheels from the source tree.

usage: requirements.py [--check] [--root DIR] POETRY
"""

import argparse
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

HEADER = "# Generated from poetry.lock by `make requirements`: do not edit.\n"
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _specs(spec: Any) -> Iterator[dict[str, Any]]:
    """The constraints of one lock dependency entry: a string, a table or a list of tables."""
    if isinstance(spec, str):
        yield {"version": spec}
    elif isinstance(spec, dict):
        yield spec
    else:
        yield from spec


def closure(lock: dict[str, Any], root: str) -> set[str]:
    """Every package `root` reaches in the lock, following the extras each edge asks for."""
    packages = {normalise(p["name"]): p for p in lock["package"]}
    seen: set[tuple[str, frozenset[str]]] = set()
    reached: set[str] = set()
    todo = [(normalise(root), frozenset[str]())]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        reached.add(name)
        for dep_name, spec in packages[name].get("dependencies", {}).items():
            for constraint in _specs(spec):
                wanted_by = set(_EXTRA_MARKER.findall(constraint.get("markers", "")))
                if constraint.get("optional") and not wanted_by & extras:
                    continue
                todo.append((normalise(dep_name), frozenset(constraint.get("extras", ()))))
    return reached


def split_requirements(exported: str) -> Iterator[tuple[str, str]]:
    """(normalised name, text) of each requirement of `poetry export`, continuation lines kept."""
    block: list[str] = []
    for line in exported.splitlines(keepends=True):
        if block and not line.startswith((" ", "\t")):
            yield _named(block)
            block = []
        block.append(line)
    if block:
        yield _named(block)


def _named(block: list[str]) -> tuple[str, str]:
    text = "".join(block)
    match = _NAME.match(text)
    return (normalise(match.group(1)) if match else "", text)


def service_requirements(exported: str, lock: dict[str, Any], service: str, siblings: Iterable[str]) -> str:
    wanted = closure(lock, service) - set(siblings)
    kept = [text for name, text in split_requirements(exported) if name in wanted]
    return HEADER + "".join(kept)


def services(root: Path) -> dict[str, Path]:
    """Project name -> requirements.txt path of every service."""
    found = {}
    for pyproject in sorted(root.glob("services/*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[normalise(name)] = pyproject.parent / "requirements.txt"
    return found


def render_all(root: Path, poetry: str) -> dict[Path, str]:
    exported = subprocess.run(  # noqa: S603 - the Poetry the Makefile names
        [poetry, "export", "--only", "main", "--format", "requirements.txt"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lock = tomllib.loads((root / "poetry.lock").read_text())
    siblings = {
        normalise(p["name"]) for p in lock["package"] if p.get("source", {}).get("type") == "directory"
    }
    return {
        path: service_requirements(exported, lock, name, siblings) for name, path in services(root).items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("poetry", help="the Poetry executable (with poetry-plugin-export)")
    parser.add_argument("--check", action="store_true", help="report stale files instead of writing")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    stale = []
    for path, text in render_all(args.root, args.poetry).items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(path.relative_to(args.root))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(args.root)}")
    if stale:
        print(f"stale: {', '.join(map(str, stale))}; run `make requirements`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

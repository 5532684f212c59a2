"""`make dist`: build each package and service (or the named ones) into a wheel and an sdist.

usage: dist.py [--out DIR] [PROJECT ...]     (default: every project, into dist/)

Builds with poetry-core, the projects' own build backend, then checks what it built: each wheel
names its siblings by name and version range (never a path), and `twine check` accepts every file.
Prints the path of each file built.
"""

import argparse
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import Requirement
from workspace import Project, Workspace, load

ROOT = Path(__file__).resolve().parents[1]
_BUILD = """
import sys
from poetry.core.masonry.api import build_sdist, build_wheel
print(build_wheel(sys.argv[1]))
print(build_sdist(sys.argv[1]))
"""


def build(project: Project, workspace: Workspace, out: Path) -> list[Path]:
    """The wheel and the sdist of ``project``, built into ``out``."""
    # In a subprocess run from the project's folder: poetry-core builds the current directory.
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _BUILD, str(out)],
        cwd=workspace.root / project.folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{project.name}: build failed\n{result.stderr}")
    return [out / name for name in result.stdout.split()]


def sibling_requirements(wheel: Path, workspace: Workspace) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    requirements = [
        Requirement(line.split(": ", 1)[1]) for line in lines if line.startswith("Requires-Dist: ")
    ]
    return [r for r in requirements if r.name in workspace.projects]


def check_siblings(project: Project, wheel: Path, workspace: Workspace) -> list[str]:
    """Problems with how the wheel names its siblings: a path, no range, or a range excluding them."""
    problems = []
    for requirement in sibling_requirements(wheel, workspace):
        sibling = workspace.projects[requirement.name]
        if requirement.url:
            problems.append(f"{project.name} requires {requirement.name} by URL ({requirement.url})")
        elif not requirement.specifier:
            problems.append(f"{project.name} requires {requirement.name} with no version range")
        elif sibling.version not in requirement.specifier:
            problems.append(
                f"{project.name} requires {requirement.name}{requirement.specifier}, "
                f"which excludes its version {sibling.version}"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build wheels and sdists of the packages and services.")
    parser.add_argument("projects", nargs="*", help="distribution or folder names (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    options = parser.parse_args(argv)
    workspace = load(ROOT)
    chosen = []
    for wanted in options.projects:
        project = next(
            (p for p in workspace.projects.values() if wanted in (p.name, Path(p.folder).name)), None
        )
        if project is None:
            raise SystemExit(f"no package or service named {wanted!r} (see `make graph`)")
        chosen.append(project)
    out: Path = options.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    built: list[Path] = []
    problems: list[str] = []
    for project in chosen or workspace.order():
        files = build(project, workspace, out)
        built += files
        problems += check_siblings(project, files[0], workspace)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    twine = shutil.which("twine", path=str(Path(sys.executable).parent)) or "twine"
    checked = subprocess.run([twine, "check", "--strict", *map(str, built)], check=False)  # noqa: S603
    if checked.returncode != 0:
        return checked.returncode
    print("\n".join(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path) for path in built))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

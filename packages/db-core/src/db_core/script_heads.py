"""The head of a database's migration scripts, read from the script files themselves.

Readiness compares the revision stored in a database with the head of its package's scripts.
Alembic's own view (``db_core.migrations.head_revisions``) imports every script and loads Mako
with it; here each script's ``revision`` and ``down_revision`` assignments are read with ``ast``,
nothing imported, so a new revision moves the head with no line to update by hand. db-core's tests
hold the two views equal.
"""

import ast
from collections.abc import Iterable
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

_NAMES = ("revision", "down_revision")


def _assigned(module: ast.Module) -> dict[str, Any]:
    """The literal values of the module-level ``revision`` and ``down_revision`` assignments."""
    found: dict[str, Any] = {}
    for statement in module.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _NAMES:
            found[target.id] = ast.literal_eval(value)
    return found


def _down_revisions(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def heads(scripts: Iterable[str]) -> tuple[str, ...]:
    """The revisions no other script of ``scripts`` (their texts) names as its ``down_revision``,
    sorted; a text without a ``revision`` is not a script and is passed over."""
    revisions: set[str] = set()
    below: set[str] = set()
    for source in scripts:
        assigned = _assigned(ast.parse(source))
        if isinstance(assigned.get("revision"), str):
            revisions.add(assigned["revision"])
            below.update(_down_revisions(assigned.get("down_revision")))
    return tuple(sorted(revisions - below))


def script_texts(versions: Traversable) -> list[str]:
    """The text of every ``.py`` file in a ``versions`` folder."""
    return [entry.read_text(encoding="utf-8") for entry in versions.iterdir() if entry.name.endswith(".py")]


def package_heads(package: str) -> tuple[str, ...]:
    """The head revision(s) of the scripts in ``<package>/migrations/versions``."""
    return heads(script_texts(files(package) / "migrations" / "versions"))

"""Which modules of a project another one reaches, from their import statements (read, not run).

Used by `make test-affected` to tell a narrow dependency (core-config imports only
``bybit_client.enums``) from a broad one (the api imports ``bybit_client`` itself). Imports under
``if TYPE_CHECKING:`` do not count (they never run). Importing ``a.b.c`` runs ``a`` and ``a.b``
too, so those count with whatever they import in turn.
"""

import ast
from collections.abc import Iterable
from pathlib import Path


def module_files(src: Path) -> dict[str, Path]:
    """Every module under a ``src`` folder by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for file in src.rglob("*.py"):
        parts = list(file.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = file
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _runtime_imports(ast.Module(body=node.orelse, type_ignores=[]))
        else:
            yield from _runtime_imports(node)


def imported_names(file: Path, module: str | None = None, is_package: bool = False) -> set[str]:
    """Dotted names ``file`` imports at run time: ``from a.b import c`` gives ``a.b`` and ``a.b.c``
    (the caller tells modules from attributes); relative imports resolved against ``module``."""
    names: set[str] = set()
    for node in _runtime_imports(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level and module is not None:
            package = module.split(".") if is_package else module.split(".")[:-1]
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names.add(base)
        names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


class ProjectModules:
    """The modules of one project and what each runs of the same project when imported."""

    def __init__(self, src: Path) -> None:
        self.files = module_files(src)
        self._imports: dict[str, set[str]] = {}

    def is_package(self, name: str) -> bool:
        return name in self.files and self.files[name].name == "__init__.py"

    def modules_of(self, names: Iterable[str]) -> set[str]:
        """The names that are modules of this project."""
        return {name for name in names if name in self.files}

    def imports_of(self, name: str) -> set[str]:
        if name not in self._imports:
            file = self.files[name]
            found = imported_names(file, name, file.name == "__init__.py")
            self._imports[name] = self.modules_of(found)
        return self._imports[name]

    def reached_by(self, imported: Iterable[str]) -> set[str] | None:
        """The modules that run when another project imports ``imported``; None means the whole
        project: a package was imported by name, and a package may load any of its modules
        lazily (PEP 562), so nothing narrower can be told from its import statements."""
        todo = list(imported)
        if any(self.is_package(name) for name in todo):
            return None
        reached: set[str] = set()
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            todo += [p for p in _parents(name) if p in self.files]
            todo += self.imports_of(name)
        return reached

"""`make settings-docs`: the README's settings table and `.env.example`, written from the one source,
core-config's ``Settings`` (each field's variable, default and description).

``--check`` writes nothing and exits 1, naming the file, when either differs from what it would
write (a test runs it, so a new setting without its docs fails the suite).
"""

import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from core_config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
TABLE_START = (
    "<!-- settings: written by `make settings-docs` from core_config.Settings; edit the fields there -->"
)
TABLE_END = "<!-- settings: end -->"
ENV_HEADER = """\
# Every setting with its default, written by `make settings-docs` from core_config.Settings (edit
# the fields there, not this file). Copy to .env for local development; real environment variables
# win over .env. Secrets (URLs with passwords, DSNs) never belong in a committed file.
"""


def default_text(field: FieldInfo) -> str:
    """A field's default as its variable would spell it; empty when it has none of its own."""
    value: Any = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, list):
        return ",".join(str(item.value if isinstance(item, Enum) else item) for item in value)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _group(name: str) -> str:
    """Fields sharing their first word sit together in `.env.example`."""
    return name.split("_", 1)[0]


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = default_text(field)
        shown = f"`{default}`" if default else "none"
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name.upper()}` | {shown} | {meaning} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


def env_example() -> str:
    lines = [ENV_HEADER.rstrip("\n")]
    previous = ""
    for name, field in Settings.model_fields.items():
        if _group(name) != previous:
            lines.append("")
            previous = _group(name)
        lines.append(f"# {(field.description or '').replace('`', '')}")
        default = default_text(field)
        lines.append(f"{name.upper()}={default}" if default else f"# {name.upper()}=")
    return "\n".join(lines) + "\n"


def readme_with_table(readme: str) -> str:
    start, end = readme.index(TABLE_START), readme.index(TABLE_END) + len(TABLE_END)
    return readme[:start] + table() + readme[end:]


def main(argv: Sequence[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    wanted = {README: readme_with_table(README.read_text()), ENV_EXAMPLE: env_example()}
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if check:
        for path in stale:
            print(
                f"{path.name} does not match core_config.Settings: run `make settings-docs`", file=sys.stderr
            )
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The project's console scripts as the stack finds them: present in the venv and importable.

A script stays in the venv's bin folder while the code behind it may not exist yet (or any more),
so a command counts as available only when its entry point's module can be found.
"""

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

BIN_DIR = Path(sys.executable).parent


def available(script: str) -> Path | None:
    """The path of console script ``script`` when it can run, else None."""
    path = BIN_DIR / script
    if not path.exists():
        return None
    entry = next(iter(importlib.metadata.entry_points(group="console_scripts", name=script)), None)
    if entry is None:
        return None
    try:
        found = importlib.util.find_spec(entry.module) is not None
    except ImportError:
        found = False
    return path if found else None

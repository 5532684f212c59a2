"""The project's console scripts the stack runs, found in the venv beside this interpreter."""

import sys
from pathlib import Path

from local_stack.errors import StackError

BIN_DIR = Path(sys.executable).parent


def require(script: str) -> Path:
    """The path of console script ``script``, or a StackError saying how to get it."""
    path = BIN_DIR / script
    if not path.exists():
        raise StackError(f"`{script}` is not installed in {BIN_DIR}: run `make install`")
    return path

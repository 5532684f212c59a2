"""The local stack's entry point: ``.venv/bin/python infra/local/stack.py [run | test-servers -- CMD]``.

See infra/local/README.md. The code lives in the ``local_stack`` package beside this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_stack.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

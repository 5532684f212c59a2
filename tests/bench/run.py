"""``make bench``: run every ``bench_*.py`` beside this file (or those named) and record the rows.

Each benchmark module exposes ``run() -> list[Row]``; the rows are printed and merged into
``.bench/results.json``.
"""

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import record  # noqa: E402 - the path above makes the harness importable


def main(names: list[str]) -> None:
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    chosen = [m for m in modules if not names or any(n in m for n in names)]
    if not chosen:
        raise SystemExit(f"no benchmark matches {names}; there are: {', '.join(modules)}")
    for name in chosen:
        print(f"\n== {name}")
        module = importlib.import_module(name)
        record(module.run())


if __name__ == "__main__":
    main(sys.argv[1:])

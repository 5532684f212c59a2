"""The benchmark harness: rows compared side by side, printed as a table, kept in .bench/results.json.

A row compares our figure with a baseline measured in the same run; ``ratio`` is oriented so that
higher is better whatever the unit.
"""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / ".bench" / "results.json"


@dataclass(frozen=True)
class Row:
    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    goal: str
    higher_is_better: bool = field(default=True, repr=False)

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.value / self.baseline_value if self.baseline_value else float("inf")
        return self.baseline_value / self.value if self.value else float("inf")

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        del data["higher_is_better"]
        data["ratio"] = round(self.ratio, 3)
        data["value"] = round(self.value, 3)
        data["baseline_value"] = round(self.baseline_value, 3)
        return data


def record(rows: list[Row], path: Path = RESULTS) -> None:
    """Merge ``rows`` into the results file (a row replaces one of the same benchmark and metric)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing: list[dict[str, object]] = json.loads(path.read_text()) if path.exists() else []
    fresh = [row.as_json() for row in rows]
    keys = {(row["benchmark"], row["metric"]) for row in fresh}
    kept = [row for row in existing if (row["benchmark"], row["metric"]) not in keys]
    path.write_text(json.dumps(kept + fresh, indent=2) + "\n")
    print_table(rows)


def print_table(rows: list[Row]) -> None:
    header = f"{'benchmark':<34} {'metric':<30} {'value':>12} {'baseline':>12} {'ratio':>8}  goal"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.benchmark:<34} {row.metric:<30} {row.value:>12,.1f} {row.baseline_value:>12,.1f} "
            f"{row.ratio:>7.2f}x  {row.goal}  ({row.unit}; baseline: {row.baseline})"
        )


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """Wall-clock seconds of the ``with`` block: call the yielded function after the block."""
    start = time.perf_counter()
    elapsed: list[float] = []
    try:
        yield lambda: elapsed[0]
    finally:
        elapsed.append(time.perf_counter() - start)

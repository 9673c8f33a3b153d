"""Aggregation: every finished run under a directory into one table, with cross-model plots.

    python -m xling.aggregate runs/models            # writes runs/models/aggregate/
    python -m xling.aggregate runs/a runs/b --out=report/

Writes aggregate.csv (long: experiment, model, group, metric, value, lo, hi, n, point),
aggregate.md, correlations.json and the plots of `xling.aggregate.cross`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from xling.aggregate import cross, tables
from xling.aggregate.collect import Run, collect
from xling.aggregate.extract import EXTRACTORS, Row
from xling.workdir import atomic_write

log = logging.getLogger(__name__)

__all__ = ["Aggregate", "Row", "Run", "aggregate", "collect"]


@dataclasses.dataclass
class Aggregate:
    rows: list[Row]
    correlations: list[dict]
    runs: list[dict]  # point, experiment, wall time (from the sweep's records, when there)
    skipped: list[str]  # runs of experiments without an extractor
    files: list[Path]

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows])


def _wall_times(dirs: Sequence[Path]) -> dict[str, float]:
    out = {}
    for d in dirs:
        for marker in (Path(d) / "_sweep").glob("*.done.json"):
            out[marker.name.removesuffix(".done.json")] = json.loads(marker.read_text(encoding="utf-8"))[
                "wall_s"
            ]
    return out


def aggregate(dirs: Sequence[str | Path], out: str | Path | None = None, *, n_resamples: int = 1000,
              seed: int = 0, plots: bool = True) -> Aggregate:  # fmt: skip
    """Collect, tabulate and plot; files go to `out` (default: the first directory's aggregate/)."""
    dirs = [Path(d).expanduser() for d in dirs]
    runs = collect(dirs)
    walls = _wall_times(dirs)
    rows, skipped = [], []
    for run in runs:
        extractor = EXTRACTORS.get(run.experiment)
        if extractor is None:
            skipped.append(f"{run.name} ({run.experiment})")
            continue
        rows += extractor(run, n_resamples, seed)
    correlations = cross.phasing_correlations(rows)
    index = [{"point": r.name, "experiment": r.experiment, "wall_s": walls.get(r.name)} for r in runs]
    out = Path(out).expanduser() if out else dirs[0] / "aggregate"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "aggregate.csv", tables.to_csv(rows))
    atomic_write(out / "aggregate.md", tables.markdown(rows, correlations, index, skipped))
    atomic_write(out / "correlations.json", json.dumps(correlations, indent=2) + "\n")
    files = [out / "aggregate.csv", out / "aggregate.md", out / "correlations.json"]
    if plots:
        files += cross.plot_all(rows, correlations, out)
    return Aggregate(rows, correlations, index, skipped, files)

"""The aggregate table as CSV (one row per model, group and metric) and as Markdown."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence

from xling.aggregate.extract import Row

PLAIN = {"score"}  # metrics shown as numbers; every other one is a share, shown in %


def to_csv(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    fields = [f.name for f in dataclasses.fields(Row)]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in dataclasses.asdict(r).items()}
        )
    return buf.getvalue()


def cell(r: Row | None) -> str:
    if r is None or math.isnan(r.value):
        return "–"
    if r.metric in PLAIN:
        return f"{r.value:.3f} [{r.lo:.3f}, {r.hi:.3f}]"
    return f"{100 * r.value:.1f} [{100 * r.lo:.1f}, {100 * r.hi:.1f}]"


def markdown(
    rows: Sequence[Row], correlations: list[dict], runs: Sequence[dict], skipped: Sequence[str]
) -> str:
    lines = ["# Aggregate", "", "Estimates with percentile-bootstrap 95% CIs over examples; shares in %.", ""]
    for experiment in dict.fromkeys(r.experiment for r in rows):
        mine = [r for r in rows if r.experiment == experiment]
        metrics = list(dict.fromkeys(r.metric for r in mine))
        keys = list(dict.fromkeys((r.model, r.group) for r in mine))
        index = {(r.model, r.group, r.metric): r for r in mine}
        lines += [f"## {experiment}", "", "| model | group | n | " + " | ".join(metrics) + " |",
                  "|---|---|---:|" + "---|" * len(metrics)]  # fmt: skip
        for model, group in sorted(keys, key=lambda k: (k[0], keys.index(k))):
            n = max(index[model, group, m].n for m in metrics if (model, group, m) in index)
            cells = " | ".join(cell(index.get((model, group, m))) for m in metrics)
            lines.append(f"| {model} | {group} | {n} | {cells} |")
        lines.append("")
    for c in correlations:
        if math.isnan(c["r"]):
            lines.append(
                f"Phasing stability vs generated F1 ({c['target']}): undefined over {c['points']} rows."
            )
        else:
            lines.append(f"Phasing stability vs generated F1 ({c['target']}): Pearson r = {c['r']:.2f} "
                         f"[{c['ci'][0]:.2f}, {c['ci'][1]:.2f}] (Fisher z, 95%), p = {c['p']:.3f}, over "
                         f"{c['points']} (model, setting) rows of {c['models']} models.")  # fmt: skip
    if correlations:
        lines.append("")
    lines += ["## Runs", "", "| point | experiment | wall time (s) |", "|---|---|---:|"]
    lines += [
        f"| {r['point']} | {r['experiment']} | {r['wall_s'] if r['wall_s'] is not None else '–'} |"
        for r in runs
    ]
    if skipped:
        lines += ["", "Not aggregated (no extractor for the experiment): " + ", ".join(skipped) + "."]
    return "\n".join(lines) + "\n"

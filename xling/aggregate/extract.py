"""Each experiment's summary as rows of one long table: (model, group, metric) -> estimate, CI.

An extractor per experiment reads what its report wrote (summary.json, and results.jsonl
where a statistic needs the per-example records); an experiment without one is listed as
not aggregated, never guessed at. Values are the reports' own: shares in [0, 1], 95%
percentile-bootstrap CIs over examples.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from xling.aggregate.collect import Run
from xling.metrics.stats import bootstrap_ci
from xling.tracing.behaviour import CO_OCCURRENCE, EXCLUDED, PIVOT


@dataclasses.dataclass(frozen=True)
class Row:
    experiment: str
    model: str
    group: str  # a pair, a setting, a variant/scoring: what the metric is over
    metric: str
    value: float
    lo: float
    hi: float
    n: int
    point: str

    @staticmethod
    def of(run: Run, model: str, group: str, metric: str, ci, n: int) -> Row:
        value, lo, hi = (float("nan"),) * 3 if ci is None else (float(x) for x in ci)
        return Row(run.experiment, model, group, metric, value, lo, hi, int(n), run.name)


def _ci(values, n_resamples: int, seed: int):
    v = [x for x in values if x is not None and not math.isnan(x)]
    return bootstrap_ci(np.asarray(v, float), n_resamples=n_resamples, seed=seed) if v else None


def word_translation(run: Run, n_resamples: int, seed: int) -> list[Row]:
    """Per pair and pooled over pairs: accuracy, CLWTD Score, pivot and co-occurrence shares
    (of the classified examples, as in the report)."""
    model = run.config["model"]["name"]
    rows = []
    for pair, s in run.summary["pairs"].items():
        rows += [Row.of(run, model, pair, "accuracy", s["accuracy"], s["n"]),
                 Row.of(run, model, pair, "score", s["score"], s["n"]),
                 Row.of(run, model, pair, "pivot_share", s["pivot"], s["n_classified"]),
                 Row.of(run, model, pair, "co_occurrence_share", s["co_occurrence"], s["n_classified"])]  # fmt: skip
    records = run.records()
    kept = [r for r in records if r["behaviour"] != EXCLUDED]
    pooled = {
        "accuracy": ([float(r["correct"]) for r in records], len(records)),
        "score": ([r["score"] for r in records], len(records)),
        "pivot_share": ([float(r["behaviour"] == PIVOT) for r in kept], len(kept)),
        "co_occurrence_share": ([float(r["behaviour"] == CO_OCCURRENCE) for r in kept], len(kept)),
    }
    rows += [Row.of(run, model, "all pairs", m, _ci(v, n_resamples, seed), n) for m, (v, n) in pooled.items()]
    return rows


def xmrc(run: Run, n_resamples: int, seed: int) -> list[Row]:
    """Per model and setting (pooled over languages): generated EM and F1."""
    return [
        Row.of(run, r["model"], r["setting"], m, r[m], r["n"])
        for r in run.summary["pooled"]
        for m in ("em", "f1")
    ]


def xmrc_attribution(run: Run, n_resamples: int, seed: int) -> list[Row]:
    """Per model, setting and attribution target: generated and oracle F1, phasing stability."""
    rows = []
    for r in run.summary["rows"]:
        group = f"{r['setting']} / {r['target']}"
        rows += [Row.of(run, r["model"], group, m, r[m], r["n"])
                 for m in ("generated_f1", "oracle_f1", "phasing_stability")]  # fmt: skip
    for r in run.summary["models"]:
        group = f"all / {r['target']}"
        rows += [Row.of(run, r["model"], group, m, r[m], r["n"])
                 for m in ("generated_f1", "oracle_f1", "phasing_stability")]  # fmt: skip
    return rows


def _kb_group(r: dict) -> str:
    parts = [r["variant"], r["scoring"]]
    if r["shots"]:
        parts.append(f"{r['shots']}-shot" + ("" if r["demos"] == "en" else f" ({r['demos']} demos)"))
    if r["mitigation"] != "none":
        parts.append(r["mitigation"])
    return " / ".join(parts)


def knowledge_barriers(run: Run, n_resamples: int, seed: int) -> list[Row]:
    """Accuracy per variant, and the barrier: English accuracy minus mixup accuracy on the
    same questions (paired: the CI resamples questions, each with both answers)."""
    rows = [
        Row.of(run, r["model"], _kb_group(r), "accuracy", r["accuracy"], r["n"]) for r in run.summary["rows"]
    ]
    by = defaultdict(dict)
    for r in run.records():
        if r["mitigation"] == "none" and r["variant"] in ("en", "mixup"):
            by[(r["model"], r["scoring"], r["shots"], r["variant"])][(r["subject"], r["id"])] = float(
                r["correct"]
            )
    for (model, scoring, shots, variant), en in sorted(by.items()):
        mixup = by.get((model, scoring, shots, "mixup"))
        if variant != "en" or not mixup:
            continue
        shared = sorted(set(en) & set(mixup))
        diff = [en[k] - mixup[k] for k in shared]
        group = scoring + (f" / {shots}-shot" if shots else "")
        rows.append(Row.of(run, model, group, "barrier_drop", _ci(diff, n_resamples, seed), len(shared)))
    return rows


EXTRACTORS: dict[str, Callable[[Run, int, int], list[Row]]] = {
    "word_translation": word_translation,
    "xmrc": xmrc,
    "xmrc_attribution": xmrc_attribution,
    "knowledge_barriers": knowledge_barriers,
}

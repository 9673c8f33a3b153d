"""Summaries and plots of the xMRC attribution records (`xling.attribution.runner`).

Rows per (model, setting, target) and per (model, target) over every setting: generated and
oracle EM/F1, phasing stability and median MRD per token group, each with a percentile
bootstrap 95% CI over examples; the relative deviation of the layer-0 relevance total from
the explained value (AttnLRP is not conservative at softmaxes, see xling.models.rules).
Across the (model, setting) rows of a target: Pearson r of phasing stability with generated
F1, with Fisher-z 95% CI (scipy).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from xling.attribution.mechanism import GROUPS, phasing_stability
from xling.metrics.stats import bootstrap_ci, pearson_ci
from xling.plotting.files import file_slug, save_figure


def _ci(values, n_resamples: int, seed: int) -> list[float]:
    v = np.asarray([x for x in values if x is not None], float)
    if v.size == 0:
        return [float("nan")] * 3
    return [round(x, 4) for x in bootstrap_ci(v, n_resamples=n_resamples, seed=seed)]


def _row(rs: list[dict], n_resamples: int, seed: int) -> dict:
    flags = [r["phased"] for r in rs]
    share, counted = phasing_stability(flags)
    dev = [abs(r["layer_totals"][0] - r["explained"]) / max(abs(r["explained"]), 1e-9) for r in rs]
    return {
        "n": len(rs),
        "generated_em": _ci([r["generated"]["em"] for r in rs], n_resamples, seed),
        "generated_f1": _ci([r["generated"]["f1"] for r in rs], n_resamples, seed),
        "oracle_em": _ci([r["oracle"]["em"] for r in rs], n_resamples, seed),
        "oracle_f1": _ci([r["oracle"]["f1"] for r in rs], n_resamples, seed),
        "phasing_stability": _ci([float(f) for f in flags if f is not None], n_resamples, seed),
        "phased_counted": counted,
        "phasing_share": round(share, 4) if counted else None,
        "median_mrd": {g: _ci([r["medians"][g] for r in rs], n_resamples, seed) for g in GROUPS},
        "conservation_deviation": round(float(np.median(dev)), 4),
    }


def summarize(records: list[dict], *, n_resamples: int = 1000, seed: int = 0) -> dict:
    by = defaultdict(list)
    pooled = defaultdict(list)
    for r in records:
        by[(r["model"], r["setting"], r["target"])].append(r)
        pooled[(r["model"], r["target"])].append(r)
    rows = [
        {"model": m, "setting": s, "target": t, **_row(rs, n_resamples, seed)} for (m, s, t), rs in by.items()
    ]
    models = [{"model": m, "target": t, **_row(rs, n_resamples, seed)} for (m, t), rs in pooled.items()]
    correlations = []
    for target in dict.fromkeys(r["target"] for r in rows):
        pts = [(r["phasing_share"], r["generated_f1"][0]) for r in rows if r["target"] == target]
        pts = [(x, y) for x, y in pts if x is not None]
        entry = {"target": target, "points": len(pts), "r": None, "ci": None, "p": None}
        if len(pts) >= 3:
            r, low, high, p = pearson_ci(*np.array(pts).T)
            entry["r"] = r
            if not np.isnan(r):
                entry.update(r=round(r, 4), ci=[round(low, 4), round(high, 4)], p=round(p, 4))
        correlations.append(entry)
    return {"rows": rows, "models": models, "correlations": correlations}


def _fmt(ci, scale: float = 1.0, digits: int = 1) -> str:
    m, lo, hi = ci
    if np.isnan(m):
        return "-"
    if np.isnan(lo):
        return f"{m * scale:.{digits}f}"
    return f"{m * scale:.{digits}f} [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def summary_markdown(summary: dict, header: str) -> str:
    lines = ["# xMRC attribution: phases and oracle answers (AttnLRP)", "", header, ""]
    cols = (
        "| model | setting | target | n | generated F1 | oracle EM | oracle F1 | phasing stability | "
        "MRD question | MRD answer | MRD context | MRD template | conservation dev. |"
    )
    lines += [cols, "|" + "---|" * 13]
    for r in summary["models"] + summary["rows"]:
        m = r["median_mrd"]
        lines.append(
            f"| {r['model']} | {r.get('setting', 'all')} | {r['target']} | {r['n']} | "
            f"{_fmt(r['generated_f1'], 100)} | {_fmt(r['oracle_em'], 100)} | {_fmt(r['oracle_f1'], 100)} | "
            f"{_fmt(r['phasing_stability'], 100)} | {_fmt(m['question'])} | {_fmt(m['answer'])} | "
            f"{_fmt(m['context'])} | {_fmt(m['template'])} | {r['conservation_deviation']:.3f} |"
        )
    lines += ["", "Scores and phasing stability in %; MRD in layers (0 = embeddings), medians over",
              "examples of each example's median; 95% bootstrap CIs. Conservation dev.: median over",
              "examples of |sum of layer-0 relevance - explained value| / |explained value|.", ""]  # fmt: skip
    for c in summary["correlations"]:
        if c["r"] is None:
            lines.append(
                f"Phasing stability vs F1 ({c['target']}): too few rows ({c['points']}) for a correlation."
            )
        else:
            lines.append(
                f"Phasing stability vs generated F1 across {c['points']} (model, setting) rows "
                f"({c['target']}): Pearson r = {c['r']:.3f}"
                + (f" [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}], p = {c['p']:.3g}." if c["ci"] else ".")
            )
    return "\n".join(lines) + "\n"


def plot_all(records: list[dict], workdir: Path) -> list[Path]:
    """mrd_by_group_{model}_{target}.png and relevance_by_layer_{model}_{target}.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xling.plotting.fonts import rc_params

    written = []
    by = defaultdict(list)
    for r in records:
        by[(r["model"], r["target"])].append(r)
    with plt.rc_context(rc_params()):
        for (model, target), rs in by.items():
            slug = f"{file_slug(model)}_{target}"
            fig, ax = plt.subplots(figsize=(5, 3.2))
            data = [[r["medians"][g] for r in rs if r["medians"][g] is not None] for g in GROUPS]
            ax.boxplot([d or [np.nan] for d in data], tick_labels=list(GROUPS))
            ax.set_ylabel("median MRD (layer)")
            ax.set_title(f"{model}, {target}: {len(rs)} examples", fontsize=9)
            written.append(save_figure(fig, workdir / f"mrd_by_group_{slug}.png"))
            fig, ax = plt.subplots(figsize=(5.5, 3.2))
            prof = np.array([r["group_layer_abs"] for r in rs], float)  # [N, G, L + 1]
            share = prof / np.maximum(prof.sum(axis=(1, 2), keepdims=True), 1e-30)
            for g, name in enumerate(GROUPS):
                ax.plot(share[:, g].mean(0), marker="o", markersize=2.5, label=name)
            ax.set_xlabel("layer (0 = embeddings)")
            ax.set_ylabel("share of |relevance|")
            ax.legend(fontsize=7)
            ax.set_title(f"{model}, {target}", fontsize=9)
            written.append(save_figure(fig, workdir / f"relevance_by_layer_{slug}.png"))
    return written

"""The cross-model analyses of the three studies, from the aggregate rows, and their plots.

- xMRC (Gao et al.): generated F1 against phasing stability over (model, setting) rows,
  per attribution target, with Pearson r and its Fisher-z 95% CI;
- knowledge barriers (Chua et al.): the drop from English to mixup per model, paired CI;
- word translation (He et al.): CLWTD Score and pivot share per model, pooled over pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xling.aggregate.extract import Row
from xling.metrics.stats import pearson_ci
from xling.plotting.files import save_figure


def phasing_correlations(rows: Sequence[Row]) -> list[dict]:
    """Per target: r(phasing stability, generated F1) across (model, setting) rows."""
    by: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r.experiment == "xmrc_attribution" and not r.group.startswith("all /"):
            by.setdefault((r.model, r.group), {})[r.metric] = r.value
    out = []
    for target in dict.fromkeys(g.split(" / ")[1] for _, g in by):
        pts = [(v["phasing_stability"], v["generated_f1"]) for (_, g), v in by.items()
               if g.endswith(f" / {target}") and not any(math.isnan(x) for x in v.values())]  # fmt: skip
        r, low, high, p = pearson_ci(*np.array(pts).T) if pts else (float("nan"),) * 4
        out.append({"target": target, "points": len(pts), "models": len({m for m, g in by if g.endswith(target)}),
                    "r": r, "ci": [low, high], "p": p})  # fmt: skip
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(rs: Sequence[Row], scale: float = 100.0) -> np.ndarray:
    return np.array([[scale * max(r.value - r.lo, 0), scale * max(r.hi - r.value, 0)] for r in rs]).T


def plot_phasing(rows: Sequence[Row], correlations: list[dict], out: Path) -> Path | None:
    mine = [r for r in rows if r.experiment == "xmrc_attribution" and not r.group.startswith("all /")]
    if not mine:
        return None
    plt = _pyplot()
    models = sorted({r.model for r in mine})
    fig, axes = plt.subplots(1, len(correlations), figsize=(4.2 * len(correlations), 3.6), squeeze=False)
    for ax, c in zip(axes[0], correlations, strict=True):
        for i, model in enumerate(models):
            by = {}
            for r in mine:
                if r.model == model and r.group.endswith(f" / {c['target']}"):
                    by.setdefault(r.group, {})[r.metric] = r
            pairs = [(v["phasing_stability"], v["generated_f1"]) for v in by.values()]
            if not pairs:
                continue
            xs, ys = zip(*pairs, strict=True)
            ax.errorbar([100 * x.value for x in xs], [100 * y.value for y in ys], xerr=_err(xs), yerr=_err(ys),
                        fmt="o", color=f"C{i}", capsize=2, label=model, alpha=0.85)  # fmt: skip
        r = "r undefined" if math.isnan(c["r"]) else f"r = {c['r']:.2f}"
        ci = "" if math.isnan(c["ci"][0]) else f" [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}]"
        ax.set_title(f"target {c['target']}: {r}{ci}, {c['points']} rows", fontsize=9)
        ax.set_xlabel("phasing stability (%)")
        ax.set_ylabel("generated F1 (%)")
        ax.set_xlim(-5, 105)
        ax.set_ylim(-5, 105)
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, out / "xmrc_f1_vs_phasing.png")


def _bars(rows: Sequence[Row], panels: Sequence[tuple[str, str, str]], path: Path, ylim=None) -> Path | None:
    """Bars per model (one colour per group) for each (experiment, metric, title) panel."""
    plt = _pyplot()
    chosen = [(e, m, t, [r for r in rows if r.experiment == e and r.metric == m]) for e, m, t in panels]
    chosen = [c for c in chosen if c[3]]
    if not chosen:
        return None
    fig, axes = plt.subplots(1, len(chosen), figsize=(4.5 * len(chosen), 3.4), squeeze=False)
    for ax, (_, metric, title, rs) in zip(axes[0], chosen, strict=True):
        models = sorted({r.model for r in rs})
        groups = list(dict.fromkeys(r.group for r in rs))
        width = 0.8 / len(groups)
        for j, group in enumerate(groups):
            sel = [next((r for r in rs if r.model == m and r.group == group), None) for m in models]
            xs = [i + (j - (len(groups) - 1) / 2) * width for i, r in enumerate(sel) if r]
            sel = [r for r in sel if r]
            ax.bar(
                xs, [100 * r.value for r in sel], width, yerr=_err(sel), capsize=2, label=group, color=f"C{j}"
            )
        ax.set_xticks(range(len(models)), models, rotation=15, fontsize=8)
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
        if ylim:
            ax.set_ylim(*ylim)
        if len(groups) > 1:
            ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_all(rows: Sequence[Row], correlations: list[dict], out: Path) -> list[Path]:
    wt = [r for r in rows if r.experiment != "word_translation" or r.group == "all pairs"]
    written = [
        plot_phasing(rows, correlations, out),
        _bars([r for r in rows if r.metric == "barrier_drop"],
              [("knowledge_barriers", "barrier_drop", "knowledge barrier: English minus mixup accuracy")],
              out / "knowledge_barrier_drop.png"),
        _bars(wt, [("word_translation", "score", "word translation: CLWTD Score (all pairs)"),
                   ("word_translation", "pivot_share", "word translation: pivot share (all pairs)")],
              out / "word_translation_models.png", ylim=(0, 100)),
    ]  # fmt: skip
    return [p for p in written if p]

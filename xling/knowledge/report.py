"""Knowledge-barrier summaries: pooled accuracy (over all questions, as the reference
reports it, not the mean of subject accuracies), per-subject accuracy, and the drop from
English, each with a bootstrap 95% CI; the drop resamples the shared question ids jointly."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from xling.metrics.stats import bootstrap_ci, bootstrap_ci_paired
from xling.plotting.files import file_slug, save_figure

_KEY = ("model", "variant", "shots", "demos", "mitigation", "option_ids", "scoring")


def _ci(values, n: int, seed: int) -> list[float]:
    return [round(v, 4) for v in bootstrap_ci(np.asarray(values, float), n_resamples=n, seed=seed)]


def summarize(records: list[dict], *, n_resamples: int = 1000, seed: int = 0) -> dict:
    units = defaultdict(list)
    for r in records:
        units[tuple(r.get(k, "letter") if k == "scoring" else r[k] for k in _KEY)].append(r)
    rows = []
    for key, rs in units.items():
        entry = dict(zip(_KEY, key, strict=True)) | {"lang": rs[0]["lang"], "n": len(rs)}
        entry["accuracy"] = _ci([r["correct"] for r in rs], n_resamples, seed)
        by_subject = defaultdict(list)
        for r in rs:
            by_subject[r["subject"]].append(r["correct"])
        entry["subjects"] = {
            s: {"n": len(v), "accuracy": _ci(v, n_resamples, seed)} for s, v in sorted(by_subject.items())
        }
        entry["unparsed"] = sum(r["pred"] is None for r in rs)
        english = units.get((key[0], "en", *key[2:]))
        if english and key[1] != "en":
            en = {r["id"]: r["correct"] for r in english}
            ids = [r["id"] for r in rs if r["id"] in en]
            mine = {r["id"]: r["correct"] for r in rs}
            x = np.array([mine[i] for i in ids], float)
            y = np.array([en[i] for i in ids], float)
            drop = bootstrap_ci_paired(
                x, y, lambda a, b: a.mean() - b.mean(), n_resamples=n_resamples, seed=seed
            )
            entry["drop_from_en"] = [round(v, 4) for v in drop]
        rows.append(entry)
    return {"rows": rows}


def _pct(ci) -> str:
    if ci is None:
        return "-"
    p, lo, hi = ci
    return f"{100 * p:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _pp(ci) -> str:
    if ci is None:
        return "-"
    p, lo, hi = ci
    return f"{100 * p:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def summary_markdown(summary: dict) -> str:
    lines = [
        "# Cross-lingual knowledge barriers: mixed-language multiple choice",
        "",
        "Accuracy in % pooled over all questions (bootstrap 95% CI); drop = variant - English on the "
        "same questions, in points (paired CI). Chance is 25%.",
        "",
        "| model | variant | shots | demos | mitigation | scoring | n | accuracy | drop from en | unparsed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['shots']} | {r['demos']} | {r['mitigation']} | {'cloze' if r['scoring'] == 'cloze' else r['option_ids']} "
            f"| {r['n']} | {_pct(r['accuracy'])} | {_pp(r.get('drop_from_en'))} | {r['unparsed']} |"
        )
    return "\n".join(lines) + "\n"


def plot_accuracy(summary: dict, workdir: Path) -> list[Path]:
    """Per model and scoring: accuracy by variant, fewest shots, no mitigation
    (accuracy_{model}.png for letter scoring, accuracy_{model}_cloze.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    keys = dict.fromkeys((r["model"], r["scoring"]) for r in summary["rows"])
    for model, scoring in keys:
        mine = [r for r in summary["rows"] if r["model"] == model and r["mitigation"] == "none"
                and r["scoring"] == scoring]  # fmt: skip
        if not mine:
            continue
        shots = min(r["shots"] for r in mine)
        mine = [r for r in mine if r["shots"] == shots]
        labels = [r["variant"] for r in mine]
        acc = np.array([100 * r["accuracy"][0] for r in mine])
        err = np.array([[100 * (r["accuracy"][0] - r["accuracy"][1]), 100 * (r["accuracy"][2] - r["accuracy"][0])]
                        for r in mine]).T  # fmt: skip
        fig, ax = plt.subplots(figsize=(1.5 + 0.45 * len(mine), 3.2))
        colours = ["0.3" if v == "en" else "tab:red" if v == "mixup" else "tab:blue" for v in labels]
        ax.bar(labels, acc, yerr=err, color=colours, capsize=2)
        ax.axhline(25, color="0.5", lw=0.8, ls="--")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.tick_params(axis="x", rotation=90, labelsize=7)
        ax.set_title(f"{model}, {shots}-shot, {scoring} scoring", fontsize=9)
        suffix = "" if scoring == "letter" else f"_{scoring}"
        written.append(save_figure(fig, workdir / f"accuracy_{file_slug(model)}{suffix}.png"))
    return written

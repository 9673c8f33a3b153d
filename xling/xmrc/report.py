"""xMRC summaries and plots from the per-example records.

Every mean has a percentile-bootstrap 95% CI over questions; a ratio (en-x / en-en,
x-x / en-en) resamples the shared question ids jointly (paired), so that the spread of
question difficulty does not widen it twice.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from xling.metrics.answer_errors import ERROR_CLASSES
from xling.metrics.stats import bootstrap_ci, bootstrap_ci_paired
from xling.plotting.files import file_slug, save_figure


def _ci(values, n_resamples: int, seed: int) -> list[float]:
    return [round(v, 4) for v in bootstrap_ci(np.asarray(values, float), n_resamples=n_resamples, seed=seed)]


def _by(records, *keys):
    out = defaultdict(list)
    for r in records:
        out[tuple(r[k] for k in keys)].append(r)
    return out


def _ratio(a: list[dict], b: list[dict], field: str, n_resamples: int, seed: int) -> list[float] | None:
    """mean(field over a) / mean(field over b) on the question ids both have, paired CI."""
    fb = {r["id"]: r[field] for r in b}
    ids = [r["id"] for r in a if r["id"] in fb]
    if not ids:
        return None
    fa = {r["id"]: r[field] for r in a}
    x = np.array([fa[i] for i in ids], float)
    y = np.array([fb[i] for i in ids], float)

    def stat(x, y):
        return x.mean() / y.mean() if y.mean() > 0 else float("nan")

    return [round(v, 4) for v in bootstrap_ci_paired(x, y, stat, n_resamples=n_resamples, seed=seed)]


def _scores(rs: list[dict], n_resamples: int, seed: int) -> dict:
    """n, EM, F1 and the share of each error class, with CIs."""
    return {
        "n": len(rs),
        "em": _ci([r["em"] for r in rs], n_resamples, seed),
        "f1": _ci([r["f1"] for r in rs], n_resamples, seed),
        "errors": {k: _ci([r["error_class"] == k for r in rs], n_resamples, seed) for k in ERROR_CLASSES},
    }


def summarize(records: list[dict], *, n_resamples: int = 1000, seed: int = 0) -> dict:
    rows = []
    for (model, setting, c, q), rs in _by(
        records, "model", "setting", "context_lang", "question_lang"
    ).items():
        rows.append(
            {
                "model": model,
                "setting": setting,
                "context_lang": c,
                "question_lang": q,
                **_scores(rs, n_resamples, seed),
            }
        )
    pairs = _by(records, "model", "context_lang", "question_lang")
    ratios = []
    for model in dict.fromkeys(r["model"] for r in records):
        base = pairs.get((model, "en", "en"))
        if not base:
            continue
        langs = sorted({r["question_lang"] for r in records if r["model"] == model} - {"en"})
        langs += sorted({r["context_lang"] for r in records if r["model"] == model} - {"en"} - set(langs))
        for x in langs:
            entry = {"model": model, "lang": x}
            for name, key in (("en-x/en-en", ("en", x)), ("x-x/en-en", (x, x))):
                rs = pairs.get((model, *key))
                if rs:
                    entry[name] = {f: _ratio(rs, base, f, n_resamples, seed) for f in ("f1", "em")}
            if len(entry) > 2:
                ratios.append(entry)
    pooled = []
    for (model, setting), rs in _by(records, "model", "setting").items():
        pooled.append(
            {
                "model": model,
                "setting": setting,
                **_scores(rs, n_resamples, seed),
            }
        )
    return {"rows": rows, "pooled": pooled, "ratios": ratios}


def _pct(ci) -> str:
    if ci is None:
        return "-"
    p, lo, hi = ci
    if np.isnan(p):
        return "n/a"
    if np.isnan(lo):
        return f"{100 * p:.1f}"
    return f"{100 * p:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _ratio_text(ci) -> str:
    if ci is None:
        return "-"
    p, lo, hi = ci
    if np.isnan(p):
        return "n/a"
    return f"{p:.2f}" if np.isnan(lo) else f"{p:.2f} [{lo:.2f}, {hi:.2f}]"


_ERR_HEAD = " | ".join(c.replace("_", " ") for c in ERROR_CLASSES)


def summary_markdown(summary: dict, header: str) -> str:
    lines = [
        "# xMRC: cross-lingual reading comprehension",
        "",
        header,
        "",
        "EM, F1 and error shares in %, with bootstrap 95% CIs over questions. Error shares are of "
        "all answers (they sum to 100 - EM). Gold answers are spans of the context, scored in the "
        "context's language.",
        "",
        "## Pooled per setting",
        "",
        f"| model | setting | n | EM | F1 | {_ERR_HEAD} |",
        "|---|---|---|---|---|" + "---|" * len(ERROR_CLASSES),
    ]
    for r in summary["pooled"]:
        errs = " | ".join(_pct(r["errors"][k]) for k in ERROR_CLASSES)
        lines.append(
            f"| {r['model']} | {r['setting']} | {r['n']} | {_pct(r['em'])} | {_pct(r['f1'])} | {errs} |"
        )
    lines += [
        "",
        "## Ratios to en-en (F1; EM in the JSON)",
        "",
        "| model | x | en-x / en-en | x-x / en-en |",
        "|---|---|---|---|",
    ]
    for r in summary["ratios"]:
        a, b = r.get("en-x/en-en"), r.get("x-x/en-en")
        lines.append(
            f"| {r['model']} | {r['lang']} | {_ratio_text(a and a['f1'])} | {_ratio_text(b and b['f1'])} |"
        )
    lines += [
        "",
        "## Per language pair",
        "",
        f"| model | setting | context | question | n | EM | F1 | {_ERR_HEAD} |",
        "|---|---|---|---|---|---|---|" + "---|" * len(ERROR_CLASSES),
    ]
    for r in summary["rows"]:
        errs = " | ".join(_pct(r["errors"][k]) for k in ERROR_CLASSES)
        lines.append(
            f"| {r['model']} | {r['setting']} | {r['context_lang']} | {r['question_lang']} | {r['n']} | "
            f"{_pct(r['em'])} | {_pct(r['f1'])} | {errs} |"
        )
    return "\n".join(lines) + "\n"


def plot_all(summary: dict, workdir: Path) -> list[Path]:
    """F1 heatmaps (context x question language) per model, F1 per language per model
    (base vs instruct), and error-class bars; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xling.plotting.fonts import rc_params

    written = []
    rows = summary["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    with plt.rc_context(rc_params()):
        for model in models:
            mine = [r for r in rows if r["model"] == model]
            ctx = sorted({r["context_lang"] for r in mine})
            qs = sorted({r["question_lang"] for r in mine})
            grid = np.full((len(ctx), len(qs)), np.nan)
            for r in mine:
                grid[ctx.index(r["context_lang"]), qs.index(r["question_lang"])] = 100 * r["f1"][0]
            fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(qs), 1.0 + 0.5 * len(ctx)))
            im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis")
            ax.set_xticks(range(len(qs)), qs)
            ax.set_yticks(range(len(ctx)), ctx)
            ax.set_xlabel("question language")
            ax.set_ylabel("context language")
            for (i, j), v in np.ndenumerate(grid):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if v < 50 else "black")  # fmt: skip
            fig.colorbar(im, ax=ax, label="F1 (%)")
            ax.set_title(f"{model}: F1", fontsize=9)
            written.append(save_figure(fig, workdir / f"f1_heatmap_{file_slug(model)}.png"))

        settings = [s for s in ("en-x", "x-x", "x-en") if any(r["setting"] == s for r in rows)]
        if settings:
            fig, axes = plt.subplots(len(settings), 1, figsize=(8, 2.6 * len(settings)), squeeze=False)
            for ax, setting in zip(axes[:, 0], settings, strict=True):
                mine = [r for r in rows if r["setting"] == setting]
                key = "question_lang" if setting == "en-x" else "context_lang"
                langs = sorted({r[key] for r in mine})
                width = 0.8 / max(len(models), 1)
                for k, model in enumerate(models):
                    vals = {r[key]: r["f1"] for r in mine if r["model"] == model}
                    x = np.arange(len(langs)) + k * width
                    ys = [100 * vals[lang][0] if lang in vals else np.nan for lang in langs]
                    err = [
                        [100 * (vals[lang][0] - vals[lang][1]) if lang in vals else 0 for lang in langs],
                        [100 * (vals[lang][2] - vals[lang][0]) if lang in vals else 0 for lang in langs],
                    ]
                    ax.bar(x, ys, width, yerr=err, label=model, capsize=2)
                ax.set_xticks(np.arange(len(langs)) + 0.4 - width / 2, langs)
                ax.set_ylabel("F1 (%)")
                ax.set_title(setting, fontsize=9)
                ax.set_ylim(0, 100)
            axes[0, 0].legend(fontsize=7)
            written.append(save_figure(fig, workdir / "f1_by_language.png"))

        pooled = summary["pooled"]
        fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(pooled), 3.2))
        labels = [f"{r['model']}\n{r['setting']}" for r in pooled]
        bottom = np.array([100 * r["em"][0] for r in pooled])
        ax.bar(labels, bottom, label="exact match", color="0.8")
        for k in ERROR_CLASSES:
            vals = np.array([100 * r["errors"][k][0] for r in pooled])
            ax.bar(labels, vals, bottom=bottom, label=k.replace("_", " "))
            bottom = bottom + vals
        ax.set_ylabel("% of answers")
        ax.tick_params(axis="x", labelsize=6)
        ax.legend(fontsize=6, bbox_to_anchor=(1.01, 1), loc="upper left")
        written.append(save_figure(fig, workdir / "errors.png"))
    return written

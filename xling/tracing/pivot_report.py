"""The pivot-pretraining report: metrics per mix and checkpoint with CIs, changes from the
base model, the mixes, the mined pivots; plots of each metric vs step.

Read from the evaluation workdirs the experiment wrote (`eval/base/...`,
`eval/{mix}/step_N/...`): word translation per pair from its `results.jsonl` (accuracy,
Score, % pivot and % co-occurrence behaviour of the classified examples, bootstrap CIs over
concepts; the change from the base model paired by concept), translation per direction from
the surface experiment's `results.jsonl` (corpus chrF, CI by resampling sentences).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xling.metrics.mt import chrf
from xling.metrics.stats import bootstrap_ci
from xling.tracing.behaviour import CO_OCCURRENCE, EXCLUDED, PIVOT
from xling.workdir import read_jsonl

WT_METRICS = ("accuracy", "score", "pivot", "co_occurrence")


def _ci(values, n: int, seed: int, statistic=np.mean):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return list(bootstrap_ci(values, statistic, n_resamples=n, seed=seed)) if values else None


def _wt_values(r: dict, metric: str):
    if metric == "accuracy":
        return float(r["correct"])
    if metric == "score":
        return r["score"]
    if r["behaviour"] == EXCLUDED:
        return None
    return float(r["behaviour"] == {"pivot": PIVOT, "co_occurrence": CO_OCCURRENCE}[metric])


def _word_translation(run_dir: Path, base_dir: Path, n: int, seed: int) -> dict:
    records, base = read_jsonl(run_dir / "results.jsonl"), read_jsonl(base_dir / "results.jsonl")
    out = {}
    for pair in dict.fromkeys(f"{r['src_lang']}-{r['tgt_lang']}" for r in records):
        rs = {r["concept"]: r for r in records if f"{r['src_lang']}-{r['tgt_lang']}" == pair}
        bs = {r["concept"]: r for r in base if f"{r['src_lang']}-{r['tgt_lang']}" == pair}
        row = {"n": len(rs)}
        for m in WT_METRICS:
            row[m] = _ci([_wt_values(r, m) for r in rs.values()], n, seed)
            diffs = []
            for c, r in rs.items():
                a, b = _wt_values(r, m), _wt_values(bs[c], m) if c in bs else None
                if a is not None and b is not None:
                    diffs.append(a - b)
            row[f"{m}_change"] = _ci(diffs, n, seed)
        out[pair] = row
    return out


def _translation(run_dir: Path, n: int, seed: int) -> dict:
    records = [r for r in read_jsonl(run_dir / "results.jsonl") if r["test"] == "translation"]
    out = {}
    for direction in dict.fromkeys(r["direction"] for r in records):
        rs = [r for r in records if r["direction"] == direction]
        hyps, refs = [r["hypothesis"] for r in rs], [r["reference"] for r in rs]

        def stat(idx, hyps=hyps, refs=refs):
            idx = np.asarray(idx, int)
            return chrf([hyps[i] for i in idx], [refs[i] for i in idx])

        out[direction] = {"n": len(rs), "chrf": _ci(list(range(len(rs))), n, seed, stat)}
    return out


def summarize(workdir: Path, mixes: Sequence[str], steps: Sequence[int], runs: dict,
              candidates: list[dict], skipped: list[dict], config) -> dict:  # fmt: skip
    n, seed = config.bootstrap, config.seed
    ev = workdir / "eval"
    base_wt = ev / "base" / "word_translation"
    points = [{"mix": "base", "step": 0, "word_translation": _word_translation(base_wt, base_wt, n, seed),
               "translation": _translation(ev / "base" / "translation", n, seed)}]  # fmt: skip
    for mix in mixes:
        for step in steps:
            here = ev / mix / f"step_{step}"
            points.append({"mix": mix, "step": step,
                           "word_translation": _word_translation(here / "word_translation", base_wt, n, seed),
                           "translation": _translation(here / "translation", n, seed)})  # fmt: skip
    mix_info = {}
    for mix in mixes:
        body = json.loads((workdir / "mixes" / f"{mix}.json").read_text(encoding="utf-8"))
        body.pop("mix")
        losses = [r["loss"] for r in runs.get(mix, [])]
        mix_info[mix] = {**body, "loss_first": losses[0] if losses else None,
                         "loss_last": losses[-1] if losses else None}  # fmt: skip
    top = {}
    for r in sorted(candidates, key=lambda r: (-r["documents"], r["pair"], r["src"], r["rank"])):
        key = f"{r['pair']} {r['src']} / {r['tgt']} ({r['documents']} documents)"
        top.setdefault(key, []).append({k: r[k] for k in ("rank", "text", "score", "adj_src", "adj_tgt")})
    return {"points": points, "mixes": mix_info, "pivots": top, "skipped_pairs": skipped}


def _fmt(ci, pct: bool = False, signed: bool = False) -> str:
    if ci is None or any(v is None or math.isnan(v) for v in ci):
        return "–"
    scale = 100 if pct else 1
    e, lo, hi = (scale * v for v in ci)
    sign = "+" if signed else ""
    if pct:
        return f"{e:{sign}.1f} [{lo:.1f}, {hi:.1f}]"
    return f"{e:{sign}.3f} [{lo:.3f}, {hi:.3f}]"


def summary_markdown(summary: dict, config, top: int = 10, pairs: int = 12) -> str:
    t = config.train
    lines = [
        "# Pivot-aware continued pre-training",
        "",
        f"Model `{config.model.name}`; {t.steps} steps x {t.batch_size * t.accumulation} rows x {t.length} "
        f"tokens per mix (lr {t.optimizer.learning_rate}); pivots from `{config.selection.pivots}`. "
        "Brackets: bootstrap 95% CIs (concepts; sentences for chrF); changes paired by concept.",
        "",
        "## Mixes",
        "",
        "| mix | documents | repeated | pivot proportion | tokens by language | loss first → last |",
        "|---|---|---|---|---|---|",
    ]
    for mix, m in summary["mixes"].items():
        langs = ", ".join(f"{k} {v / m['tokens']:.0%}" for k, v in m["tokens_by_language"].items())
        loss = "–" if m["loss_first"] is None else f"{m['loss_first']:.3f} → {m['loss_last']:.3f}"
        lines.append(
            f"| {mix} | {m['documents']} | {m['repeated_documents']} | {m['pivot_proportion']:.3f} | {langs} | {loss} |"
        )
    lines += ["", "## Word translation", "",
              "| mix | step | pair | n | accuracy | Score | Score change | % pivot | % pivot change | % co-occurrence |",
              "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in summary["points"]:
        for pair, r in p["word_translation"].items():
            lines.append(
                f"| {p['mix']} | {p['step']} | {pair} | {r['n']} | {_fmt(r['accuracy'], True)} | {_fmt(r['score'])} | "
                f"{_fmt(r['score_change'], signed=True)} | {_fmt(r['pivot'], True)} | "
                f"{_fmt(r['pivot_change'], True, True)} | {_fmt(r['co_occurrence'], True)} |"
            )
    lines += [
        "",
        "## Translation (chrF)",
        "",
        "| mix | step | direction | n | chrF |",
        "|---|---|---|---|---|",
    ]
    for p in summary["points"]:
        for d, r in p["translation"].items():
            ci = r["chrf"]
            lines.append(
                f"| {p['mix']} | {p['step']} | {d} | {r['n']} | {_fmt([v / 100 for v in ci], True) if ci else '–'} |"
            )
    lines += ["", f"## Mined pivots (top {top} per word pair; the {pairs} pairs with the most documents, "
              "all in pivots/candidates.jsonl)", ""]  # fmt: skip
    for key, rows in list(summary["pivots"].items())[:pairs]:
        cells = ", ".join(f"`{r['text'].strip() or repr(r['text'])}` {r['score']:.2f}" for r in rows[:top])
        lines.append(f"- **{key}**: {cells}")
    if summary["skipped_pairs"]:
        skipped = summary["skipped_pairs"]
        shown = ", ".join(f"{s['pair']} {s['src']}/{s['tgt']}" for s in skipped[:20])
        more = f" and {len(skipped) - 20} more (summary.json)" if len(skipped) > 20 else ""
        lines += ["", f"Skipped ({len(skipped)} pairs with a word in fewer than {config.mining.min_docs} "
                  f"documents): {shown}{more}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(summary: dict, workdir: Path) -> list[Path]:
    """One figure per metric: value vs step, a line per mix (and pair or direction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xling.plotting.files import save_figure

    base = summary["points"][0]
    series = [("score", "word_translation", "Score"), ("accuracy", "word_translation", "accuracy"),
              ("pivot", "word_translation", "share of pivot behaviour"), ("chrf", "translation", "chrF")]  # fmt: skip
    paths = []
    for metric, part, label in series:
        fig, ax = plt.subplots(figsize=(6, 4))
        for mix in dict.fromkeys(p["mix"] for p in summary["points"][1:]):
            pts = [base, *(p for p in summary["points"] if p["mix"] == mix)]
            for key in base[part]:
                ys = [p[part].get(key, {}).get(metric) for p in pts]
                xs = [p["step"] for p, y in zip(pts, ys, strict=True) if y]
                ax.plot(xs, [y[0] for y in ys if y], marker="o", label=f"{mix} {key}")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
        paths.append(save_figure(fig, workdir / f"{metric}_vs_step.png"))
        plt.close(fig)
    return paths

"""Summary statistics, the markdown table and the plots of the word-translation experiment."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xling.corpus.frequency import CorpusCounts, FrequencySource, PrecomputedCounts, WordfreqFrequency
from xling.errors import DataError
from xling.metrics.stats import auc, bootstrap_ci, bootstrap_ci_paired, pearson_r
from xling.tracing.behaviour import CO_OCCURRENCE, EXCLUDED, PIVOT

FREQUENCY_KINDS = ("target", "source", "pair")


def frequency_source(cfg, words: Sequence[str] = (), pairs: Sequence[tuple[str, str]] = ()):
    """The configured source: "wordfreq" (offline default), "corpus" (an Apache Beam count of
    `words` and `pairs` over files, run now so a bad corpus fails before the model runs),
    "counts" (a precomputed JSON file) or "none"."""
    if cfg.kind not in FREQUENCY_KINDS:
        raise DataError(f"frequency.kind must be one of {', '.join(FREQUENCY_KINDS)}, got {cfg.kind!r}")
    if cfg.source == "none":
        return None
    if cfg.source == "wordfreq":
        if cfg.kind == "pair":
            raise DataError(
                "wordfreq has single-word frequencies only; use frequency.source=corpus for pairs"
            )
        return WordfreqFrequency()
    if cfg.source == "counts":
        return PrecomputedCounts(cfg.counts)
    if cfg.source == "corpus":
        from xling.corpus.cooccurrence import count_cooccurrences

        if not cfg.corpus:
            raise DataError("frequency.source=corpus needs frequency.corpus (files or glob patterns)")
        try:
            counts = count_cooccurrences(
                cfg.corpus.split(","), sorted(set(words)), sorted(set(pairs)), window=cfg.window
            )
        except ValueError as e:
            raise DataError(f"frequency.corpus: {e}") from None
        return CorpusCounts(counts)
    raise DataError(f"unknown frequency.source {cfg.source!r}; choose wordfreq, corpus, counts or none")


def add_frequencies(records: list[dict], source: FrequencySource | None, kind: str) -> None:
    """Set `log_freq` on each record (None where the source has no value)."""
    if source is None:
        for r in records:
            r["log_freq"] = None
        return
    warned: set[str] = set()
    for r in records:
        try:
            if kind == "target":
                value = source.log_frequency(r["tgt"], r["tgt_lang"])
            elif kind == "source":
                value = source.log_frequency(r["src"], r["src_lang"])
            else:
                value = source.pair_log_frequency(r["src"], r["src_lang"], r["tgt"], r["tgt_lang"])
        except ValueError as e:  # e.g. a language wordfreq has no list for (Thai): no value, not a crash
            if str(e) not in warned:
                logging.warning("no frequency for some words: %s", e)
                warned.add(str(e))
            value = None
        except (KeyError, ImportError, NotImplementedError) as e:
            raise DataError(f"frequency of {r['concept']!r} ({r['src_lang']}-{r['tgt_lang']}): {e}") from None
        r["log_freq"] = None if value is None else float(value)


def _ci(values: Sequence[float], n_resamples: int, seed: int) -> list[float] | None:
    values = np.asarray([v for v in values if v is not None and not math.isnan(v)], float)
    return list(bootstrap_ci(values, n_resamples=n_resamples, seed=seed)) if len(values) else None


def summarize(
    records: list[dict], pairs: Sequence[tuple[str, str]], *, n_resamples: int = 1000, seed: int = 0
) -> dict:
    """Per pair: n, accuracy, Score, behaviour shares (of classified examples), AUC of log
    frequency for co-occurrence behaviour, Pearson r(log frequency, Score); each [estimate, lo, hi]."""
    out = {"pairs": {}, "mean_auc": None}
    aucs = []
    for src, tgt in pairs:
        rs = [r for r in records if r["src_lang"] == src and r["tgt_lang"] == tgt]
        kept = [r for r in rs if r["behaviour"] != EXCLUDED]
        row = {
            "n": len(rs),
            "n_classified": len(kept),
            "accuracy": _ci([float(r["correct"]) for r in rs], n_resamples, seed),
            "score": _ci([r["score"] for r in rs], n_resamples, seed),
            "pivot": _ci([float(r["behaviour"] == PIVOT) for r in kept], n_resamples, seed),
            "co_occurrence": _ci([float(r["behaviour"] == CO_OCCURRENCE) for r in kept], n_resamples, seed),
            "excluded": len(rs) - len(kept),
            "auc": None,
            "pearson_r": None,
        }
        freq = [
            (r["log_freq"], r["behaviour"] == CO_OCCURRENCE) for r in kept if r.get("log_freq") is not None
        ]
        if freq:
            x, y = np.asarray(freq, float).T
            if 0 < y.sum() < len(y):
                row["auc"] = list(bootstrap_ci_paired(x, y, auc, n_resamples=n_resamples, seed=seed))
                aucs.append(row["auc"][0])
            scored = [(r["log_freq"], r["score"]) for r in rs if r.get("log_freq") is not None]
            if len(scored) > 2 and not any(math.isnan(s) for _, s in scored):
                row["pearson_r"] = pearson_r(*np.asarray(scored, float).T)
        out["pairs"][f"{src}-{tgt}"] = row
    out["mean_auc"] = float(np.mean(aucs)) if aucs else None
    return out


def _fmt(ci, pct: bool = False) -> str:
    if ci is None or any(v is None or math.isnan(v) for v in ci):
        return "–"
    scale, unit = (100, "%") if pct else (1, "")
    e, lo, hi = (scale * v for v in ci)
    return f"{e:.1f}{unit} [{lo:.1f}, {hi:.1f}]" if pct else f"{e:.3f} [{lo:.3f}, {hi:.3f}]"


def summary_markdown(summary: dict, config) -> str:
    lines = [
        "# Word translation: co-occurrence vs semantic pivots",
        "",
        f"Model `{config.model.name}`; prompt style `{config.prompt.style}`; pivot `{config.trace.pivot}`; "
        f"rule `{config.trace.rule}`; frequency `{config.frequency.source}` ({config.frequency.kind}). "
        "Brackets: bootstrap 95% CI. Behaviour shares are of classified (not excluded) examples.",
        "",
        "| pair | n | accuracy | Score | % pivot | % co-occurrence | excluded | AUC (log freq → co-occ.) | r(log freq, Score) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in summary["pairs"].items():
        r = "–" if row["pearson_r"] is None or math.isnan(row["pearson_r"]) else f"{row['pearson_r']:.2f}"
        lines.append(
            f"| {name} | {row['n']} | {_fmt(row['accuracy'], True)} | {_fmt(row['score'])} | "
            f"{_fmt(row['pivot'], True)} | {_fmt(row['co_occurrence'], True)} | {row['excluded']} | "
            f"{_fmt(row['auc'])} | {r} |"
        )
    mean = summary["mean_auc"]
    lines += ["", f"Mean AUC over directions: {'–' if mean is None else f'{mean:.3f}'}", ""]
    return "\n".join(lines)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def layer_curves(records: list[dict], key: str, n_resamples: int, seed: int) -> np.ndarray | None:
    """[layers, 3] (mean, lo, hi) of a per-layer field over records, or None if absent."""
    values = np.asarray([[np.nan if x[key] is None else x[key] for x in r["layers"]] for r in records], float)
    if not len(values) or np.isnan(values).all():
        return None
    return np.asarray(
        [bootstrap_ci(col[~np.isnan(col)], n_resamples=n_resamples, seed=seed) for col in values.T]
    )


def plot_layers(records, pairs, workdir: Path, *, n_resamples: int = 1000, seed: int = 0) -> list[Path]:
    """Per pair: mean p_src / p_pivot / p_tgt per layer with 95% CI bands (classified examples)."""
    paths = []
    for src, tgt in pairs:
        rs = [
            r for r in records if r["src_lang"] == src and r["tgt_lang"] == tgt and r["behaviour"] != EXCLUDED
        ]
        fig = _figure(6, 3.6)
        ax = fig.add_subplot()
        for key, label, colour in (
            ("p_src", src, "tab:blue"),
            ("p_pivot", "pivot", "tab:orange"),
            ("p_tgt", tgt, "tab:green"),
        ):
            curve = layer_curves(rs, key, n_resamples, seed) if rs else None
            if curve is None:
                continue
            x = np.arange(len(curve))
            ax.plot(x, curve[:, 0], color=colour, label=f"{label} ({key[2:]})")
            ax.fill_between(x, curve[:, 1], curve[:, 2], color=colour, alpha=0.2)
        ax.set(xlabel="layer", ylabel="probability", title=f"{src} → {tgt} (n={len(rs)})", ylim=(0, 1))
        ax.legend(loc="upper left", fontsize=8)
        path = workdir / f"layers_{src}-{tgt}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(path)
    return paths


def plot_frequency(records, pairs, workdir: Path) -> Path:
    """Score vs log frequency, one panel per pair, coloured by behaviour."""
    fig = _figure(3.2 * len(pairs), 3.2)
    colours = {CO_OCCURRENCE: "tab:red", PIVOT: "tab:purple", EXCLUDED: "lightgray"}
    for n, (src, tgt) in enumerate(pairs):
        ax = fig.add_subplot(1, len(pairs), n + 1)
        rs = [
            r
            for r in records
            if r["src_lang"] == src and r["tgt_lang"] == tgt and r.get("log_freq") is not None
        ]
        for name, colour in colours.items():
            pts = [(r["log_freq"], r["score"]) for r in rs if r["behaviour"] == name]
            if pts:
                ax.scatter(*np.asarray(pts).T, s=12, color=colour, label=name, alpha=0.8)
        ax.set(title=f"{src} → {tgt}", xlabel="log frequency", ylabel="Score" if n == 0 else None)
        if n == 0:
            ax.legend(fontsize=7)
    path = workdir / "behaviour_vs_frequency.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path

"""Summaries of the mixed-language fine-tuning experiment: multiple-choice accuracy per model
and variant (with the drop from English), fictitious-people QA accuracy per model and
language (with the gap to English and the change a prior fine-tuning makes), and the
training runs (tokens, losses); bootstrap 95% CIs throughout, paired by question or fact
where two conditions are compared."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from xling.knowledge import report
from xling.knowledge.report import _pct, _pp
from xling.metrics.stats import bootstrap_ci, bootstrap_ci_paired


def _ci(values, n: int, seed: int) -> list[float]:
    return [round(v, 4) for v in bootstrap_ci(np.asarray(values, float), n_resamples=n, seed=seed)]


def _paired(a: dict, b: dict, n: int, seed: int) -> list[float]:
    ids = sorted(set(a) & set(b))
    x = np.array([a[i] for i in ids], float)
    y = np.array([b[i] for i in ids], float)
    diff = bootstrap_ci_paired(x, y, lambda u, v: u.mean() - v.mean(), n_resamples=n, seed=seed)
    return [round(v, 4) for v in diff]


def summarize(records: list[dict], runs: dict[str, list[dict]], priors, *, n_resamples: int = 1000,
              seed: int = 0) -> dict:  # fmt: skip
    mc = [r for r in records if "variant" in r]
    qa = [r for r in records if "variant" not in r]
    by = defaultdict(dict)
    for r in qa:
        by[r["model"], r["lang"]][r["id"]] = r["correct"]
    qa_rows = []
    for (model, lang), got in by.items():
        row = {
            "model": model,
            "lang": lang,
            "n": len(got),
            "accuracy": _ci(list(got.values()), n_resamples, seed),
        }
        if lang != "en" and (model, "en") in by:
            row["gap_from_en"] = _paired(got, by[model, "en"], n_resamples, seed)
        if model != "base" and ("base", lang) in by:
            row["gain_over_base"] = _paired(got, by["base", lang], n_resamples, seed)
        if model.startswith("facts_") and model != "facts_none" and ("facts_none", lang) in by:
            row["change_vs_no_prior"] = _paired(got, by["facts_none", lang], n_resamples, seed)
        qa_rows.append(row)
    train = {}
    for tag, metrics in runs.items():
        if metrics:
            train[tag] = {"steps": len(metrics), "tokens": int(sum(m["tokens"] for m in metrics)),
                          "first_loss": round(metrics[0]["loss"], 4), "last_loss": round(metrics[-1]["loss"], 4),
                          "seconds": round(sum(m["seconds"] for m in metrics), 1)}  # fmt: skip
    mc_rows = report.summarize(mc, n_resamples=n_resamples, seed=seed)["rows"] if mc else []
    return {"multiple_choice": mc_rows, "fictitious_qa": qa_rows, "training": train, "priors": list(priors)}


def summary_markdown(summary: dict, config) -> str:
    out = ["# Mixed-language fine-tuning", ""]
    out += [f"Model: `{config.model.name}`. Fine-tuning conditions: {config.conditions}; "
            f"{config.finetune.steps} steps x {config.finetune.batch_size * config.finetune.accumulation} rows x "
            f"{config.finetune.length} tokens each (lr {config.finetune.optimizer.learning_rate}). Facts: "
            f"{config.facts.parts} of the English fictitious people, {config.facts.steps} steps "
            f"(lr {config.facts.optimizer.learning_rate}). Accuracies in % with bootstrap 95% CIs; "
            "differences in points, paired by question or fact.", ""]  # fmt: skip
    if summary["training"]:
        out += ["## Training runs", "", "| run | steps | scored tokens | first loss | last loss | seconds |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        for tag, t in summary["training"].items():
            out.append(
                f"| {tag} | {t['steps']} | {t['tokens']} | {t['first_loss']} | {t['last_loss']} | {t['seconds']} |"
            )
        out.append("")
    if summary["multiple_choice"]:
        out += ["## Mixed-language multiple choice (cloze scoring, 0-shot)", "",
                "| model | variant | n | accuracy | drop from en |", "|---|---|---|---|---|"]  # fmt: skip
        for r in summary["multiple_choice"]:
            out.append(
                f"| {r['model']} | {r['variant']} | {r['n']} | {_pct(r['accuracy'])} | {_pp(r.get('drop_from_en'))} |"
            )
        out.append("")
    if summary["fictitious_qa"]:
        out += ["## Fictitious-people QA (4-way cloze multiple choice; chance 25%)", "",
                "Facts every model was not trained on are not known to it; the base model's accuracy above "
                "chance comes from cues in the question (an Italian name, a Norwegian village). The learning "
                "is the gain over the base model, per language.", "",
                "| model | lang | n | accuracy | gain over base | gap to en | change vs. no prior fine-tuning |",
                "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in summary["fictitious_qa"]:
            out.append(f"| {r['model']} | {r['lang']} | {r['n']} | {_pct(r['accuracy'])} | "
                       f"{_pp(r.get('gain_over_base'))} | {_pp(r.get('gap_from_en'))} | {_pp(r.get('change_vs_no_prior'))} |")  # fmt: skip
        out.append("")
    return "\n".join(out)

"""Cross-lingual knowledge barriers (Chua et al., COLM 2025): mixed-language multiple choice,
per variant and language, with the reference's prompt, scoring and inference-time mitigations.

Each (model, variant, shots, demos, mitigation, option ids) is a unit, written atomically to
`units/` when it finishes; a re-run with the same workdir skips finished units.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from pathlib import Path

import ml_collections

from xling.data import mmlu
from xling.errors import DataError
from xling.knowledge import report
from xling.knowledge.prompts import INSTRUCTIONS, LETTER_TOKENS, letter_tokens
from xling.knowledge.runner import SCORINGS, UnitSpec, run_unit
from xling.knowledge.variants import LANGS, build_variant, parse_variant, variant_names
from xling.registry import load_tokenizer
from xling.runtime import check_model_config, load_runtime, make_partitioning, model_block
from xling.workdir import Workdir, input_digests, unit_key
from xling.xmrc.settings import parse_list

REPORT_FIELDS = ("models", "variants", "shots", "demos", "mitigations", "progress", "mesh", "bootstrap")


@dataclasses.dataclass
class Plan:
    models: list[str]
    units: list[UnitSpec]
    english: dict  # split -> {subject: [MCItem]}
    translated: dict  # split -> {lang: {subject: [MCItem]}}
    inputs: dict


def _ints(value, what: str) -> list[int]:
    items = parse_list(str(value) if isinstance(value, int) else value, what)
    try:
        return [int(x) for x in items]
    except ValueError:
        raise DataError(f"{what} must be integers, got {value!r}") from None


def _only(by_subject: dict, subjects: list[str] | None) -> dict:
    if subjects is None:
        return by_subject
    missing = [s for s in subjects if s not in by_subject]
    if missing:
        raise DataError(f"no subject {missing[0]!r} in the data (have: {', '.join(sorted(by_subject))})")
    return {s: by_subject[s] for s in subjects}


def load_data(config) -> tuple[dict, dict, list[Path]]:
    subjects = parse_list(config.data.subjects, "config.data.subjects") or None
    english, translated, files = {}, {}, []
    for split in ("test", "dev"):
        english[split] = (
            mmlu.load_hendrycks(config.data.mmlu, split, subjects) if config.data.mmlu
            else _only(mmlu.load_shipped("en", split), subjects)
        )  # fmt: skip
        n = config.num_questions
        if split == "test" and n:
            english[split] = {s: items[:n] for s, items in english[split].items()}
        translated[split] = {}
        for lang in LANGS:
            got = (
                mmlu.load_mmmlu(config.data.mmmlu, lang, subjects, split=split) if config.data.mmmlu
                else _only(mmlu.load_shipped(lang, split), subjects)
            )  # fmt: skip
            if split == "test" and n:
                got = {s: items[:n] for s, items in got.items()}
            mmlu.align(english[split], got, lang)
            translated[split][lang] = got
    for root in (
        config.data.mmlu or mmlu.SHIPPED_MC / "mmlu",
        config.data.mmmlu or mmlu.SHIPPED_MC / "mmmlu",
    ):
        files += sorted(p for p in Path(root).rglob("*.csv"))
    return english, translated, files


def plan(config: ml_collections.ConfigDict) -> Plan:
    models = parse_list(config.models, "config.models")
    if not models:
        raise DataError("config.models names no model")
    for name in models:
        check_model_config(model_block(config, name))
    variants = variant_names() if config.variants == "all" else parse_list(config.variants, "config.variants")
    for v in variants:
        parse_variant(v)
    shots = _ints(config.shots, "config.shots")
    demos = parse_list(config.demos, "config.demos")
    mitigations = parse_list(config.mitigations, "config.mitigations")
    for m in mitigations:
        if m not in INSTRUCTIONS:
            raise DataError(f"unknown mitigation {m!r} (known: {', '.join(INSTRUCTIONS)})")
    if config.letter_token not in LETTER_TOKENS:
        raise DataError(f"config.letter_token must be one of {', '.join(LETTER_TOKENS)}")
    scorings = parse_list(config.scoring, "config.scoring")
    if not scorings or set(scorings) - set(SCORINGS):
        raise DataError(f"config.scoring must name some of {', '.join(SCORINGS)}, got {config.scoring!r}")
    units = []
    for v, k, d, m, sc in itertools.product(variants, shots, demos, mitigations, scorings):
        if k == 0 and d != demos[0]:
            continue  # without demonstrations their source does not matter
        if m == "translate" and sc != scorings[0]:
            continue  # generated and parsed: one unit, whatever the scoring
        units.append(UnitSpec(v, k, d, m, config.option_ids, config.letter_token, config.max_new_tokens,
                              config.batch_size, "letter" if m == "translate" else sc))  # fmt: skip
    english, translated, files = load_data(config)
    for name in models:  # a tokenizer without single-token letters fails now, not mid-run
        letter_tokens(load_tokenizer(name), config.option_ids, config.letter_token)
    return Plan(models, units, english, translated, input_digests({"data": files}))


def unit_name(model: str, spec: UnitSpec) -> str:
    return unit_key(model, spec.name)


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    p = plan(config)
    part = make_partitioning(config.get("mesh"))
    work = Workdir(workdir).start({**config.to_dict(), "inputs": p.inputs}, REPORT_FIELDS)
    built: dict[tuple[str, str], dict] = {}

    def variant(name: str, split: str) -> dict:
        if (name, split) not in built:
            built[name, split] = build_variant(name, p.english[split], p.translated[split])
        return built[name, split]

    options = {lang: {s: [it.choices for it in items] for s, items in p.translated["test"][lang].items()}
               for lang in LANGS} | {"en": {s: [it.choices for it in items] for s, items in p.english["test"].items()}}  # fmt: skip
    for model in p.models:
        todo = [u for u in p.units if not work.done(unit_name(model, u))]
        if not todo:
            logging.info("%s: every unit finished earlier, kept", model)
            continue
        rt = load_runtime(model_block(config, model), partitioning=part)
        for spec in todo:
            test = variant(spec.variant, "test")
            demo_variant = spec.variant if spec.demos == "same" or spec.mitigation == "translate" else "en"
            demos = variant(demo_variant, "dev")
            records = _with_progress(
                rt, model, spec, test, demos, options, variant("en", "dev"), config.progress
            )
            work.write_unit(unit_name(model, spec), records)
        del rt

    records = [r for m in p.models for u in p.units for r in work.read_unit(unit_name(m, u))]
    work.write("results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    summary = report.summarize(records, n_resamples=config.bootstrap, seed=config.seed)
    work.write("summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    work.write("summary.md", report.summary_markdown(summary))
    report.plot_accuracy(summary, work.path)
    return summary


def _with_progress(rt, model, spec, test, demos, options, english_demos, show: bool):
    from tqdm.auto import tqdm

    total = sum(map(len, test.values()))
    with tqdm(total=total, desc=f"{model} {spec.name}", unit="q", disable=not show) as bar:
        return run_unit(rt, model, spec, test, demos, options, english_demos, bar.update)

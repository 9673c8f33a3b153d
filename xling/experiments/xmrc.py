"""xMRC end to end (Gao et al., EMNLP 2025, part 1): a context in one language, a question in
another, a generated answer scored against the gold span, per model and setting.

Each (model, setting) is a unit, written atomically to `units/{model}__{setting}.jsonl` when
it finishes; a re-run with the same workdir and config skips finished units, and models or
settings may be added to a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import ml_collections

from xling.errors import DataError
from xling.registry import load_tokenizer
from xling.runtime import check_model_config, load_runtime, make_partitioning, model_block
from xling.workdir import Workdir, input_digests, unit_key
from xling.xmrc.prompts import PromptSpec
from xling.xmrc.runner import GenerationSpec, run_unit
from xling.xmrc.settings import QAData, paragraph_keys, parse_list, select_ids, setting_pairs

# May change between runs in one workdir: which units to run, and what only changes the report.
REPORT_FIELDS = ("models", "settings", "progress", "mesh", "bootstrap")


@dataclasses.dataclass
class Plan:
    models: list[str]
    formats: dict[str, str]  # model -> "plain" | "chat"
    settings: dict[str, list[tuple[str, str]]]
    data: QAData
    prompts: PromptSpec
    generation: GenerationSpec
    inputs: dict[str, str]
    excluded: frozenset[str] = frozenset()


def excluded_ids(path: str) -> frozenset[str]:
    """The ids in `path` (one a line; "" = none)."""
    if not path:
        return frozenset()
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"config.data.exclude_ids: no file at {p}")
    return frozenset(x.strip() for x in p.read_text(encoding="utf-8").splitlines() if x.strip())


def _int(config, field: str, low: int) -> int:
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DataError(f"config.{field} must be an integer >= {low}, got {value!r}")
    return value


def plan(config: ml_collections.ConfigDict) -> Plan:
    """Validate everything before a workdir is written or weights load: fields, languages,
    settings, data files (spans, parallel ids), and each model's prompt format."""
    _int(config, "num_questions", 0)
    _int(config, "bootstrap", 1)
    _int(config, "seed", 0)
    models = parse_list(config.models, "config.models")
    if not models:
        raise DataError("config.models names no model")
    for name in models:
        check_model_config(model_block(config, name))
    languages = parse_list(config.languages, "config.languages")
    data = QAData.open(config.data.xquad, config.data.mlqa, languages, config.data.mlqa_split)
    setting_names = parse_list(config.settings, "config.settings")
    if not setting_names:
        raise DataError("config.settings names no setting")
    settings = {s: setting_pairs(s, data.languages) for s in setting_names}
    for s, pairs in settings.items():
        if not pairs:
            raise DataError(f"setting {s}: no language pairs among {', '.join(data.languages)}")
    prompts = PromptSpec(**config.prompt.to_dict())
    gen = config.generation.to_dict()
    generation = GenerationSpec(**{**gen, "stop": tuple(gen["stop"]), "stages": tuple(gen["stages"])})
    formats = {name: prompts.resolve(load_tokenizer(name), name) for name in models}
    excluded = excluded_ids(config.data.get("exclude_ids", ""))
    files = data.files() + ([Path(config.data.exclude_ids).expanduser()] if excluded else [])
    return Plan(
        models, formats, settings, data, prompts, generation, input_digests({"data": files}), excluded
    )


def unit_name(model: str, setting: str) -> str:
    return unit_key(model, setting)


def unit_examples(p: Plan, setting: str, num_questions: int, seed: int) -> list:
    examples = []
    for c, q in p.settings[setting]:
        pair = [e for e in p.data.pair(c, q) if e.id not in p.excluded]
        if not pair:
            raise DataError(f"pair {c}-{q}: every question is excluded (config.data.exclude_ids)")
        keep = select_ids([e.id for e in pair], num_questions, seed, paragraph_keys(pair))
        examples += [e for e in pair if e.id in keep]
    return examples


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Run (or resume) the experiment; returns the summary dict."""
    from xling.xmrc import report  # matplotlib only when results are written

    p = plan(config)
    part = make_partitioning(config.get("mesh"))
    work = Workdir(workdir).start({**config.to_dict(), "inputs": p.inputs}, REPORT_FIELDS)
    candidates = sorted(set(p.data.languages) | {"en"})
    units = [(m, s) for m in p.models for s in p.settings]
    for model in p.models:
        todo = [s for s in p.settings if not work.done(unit_name(model, s))]
        if not todo:
            logging.info("%s: every setting finished earlier, kept", model)
            continue
        rt = load_runtime(model_block(config, model), partitioning=part)
        for setting in todo:
            examples = unit_examples(p, setting, config.num_questions, config.seed)
            records = _run_with_progress(rt, model, setting, p, examples, candidates, config.progress)
            work.write_unit(unit_name(model, setting), records)
        del rt

    records = [r for m, s in units for r in work.read_unit(unit_name(m, s))]
    work.write("results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    summary = report.summarize(records, n_resamples=config.bootstrap, seed=config.seed)
    summary["formats"] = p.formats
    work.write("summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    header = (
        f"Data: {p.data.source} ({p.data.path.name}), languages {', '.join(p.data.languages)}; "
        f"{config.num_questions or 'all'} questions per pair; prompt formats: "
        + ", ".join(f"{m} {f}" for m, f in p.formats.items())
        + f"; greedy, at most {p.generation.max_new_tokens} new tokens."
    )
    work.write("summary.md", report.summary_markdown(summary, header))
    report.plot_all(summary, work.path)
    return summary


def _run_with_progress(rt, model, setting, p: Plan, examples, candidates, show: bool):
    from tqdm.auto import tqdm

    with tqdm(total=len(examples), desc=f"{model} {setting}", unit="q", disable=not show) as bar:
        return run_unit(
            rt, model, setting, p.formats[model], p.prompts, examples, p.generation, candidates, bar.update
        )

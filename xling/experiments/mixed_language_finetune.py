"""Mixed-language fine-tuning (Chua et al., COLM 2025; docs/METHODS.md §3.5) at CPU scale.

Stages, each resumable in the workdir:

1. **Fine-tune** the base model once per condition on text built from a parallel corpus
   (aligned JSONL; by default xling's parallel sentences): `english` (the English side
   only), `document`, `sentence`, `chunk` (code-switched at that granularity, each unit in one
   of `languages`). Every condition trains the same number of steps on the same number of
   packed rows of `finetune.length` tokens, so the token budgets are equal (the scored
   tokens are recorded per run). The corpus is re-rendered with a new seed per pass until it
   fills the budget. Runs in `train/ft_{condition}/` (checkpoints, metrics.csv, TensorBoard).
2. **Learn facts**: from the base model (`none`) and from each fine-tuned model, train on
   the English biographies and English QA pairs of the fictitious people
   (`xling/data/fictitious`), in `train/facts_{prior}/`.
3. **Evaluate**: the mixed-language multiple-choice variants (`eval.variants`, cloze scoring)
   on the base and every fine-tuned model; the fictitious-people QA (cloze multiple choice,
   `xling.knowledge.fictitious`) in every language on the base and every fact-learning
   model. Each (model, variant) and (model, language) is a unit in `units/`.

`summary.md`: accuracies with bootstrap 95% CIs, the drop from English (paired by
question), and, for the facts, the change that prior mixed-language fine-tuning makes in each
language (paired by fact).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import ml_collections

from xling.corpus.mixing import GRANULARITIES, aligned_documents, mix_corpus
from xling.data.people import load_people
from xling.errors import DataError
from xling.knowledge import fictitious, finetune_report
from xling.knowledge.runner import UnitSpec, run_unit
from xling.knowledge.variants import build_variant, parse_variant
from xling.runtime import Runtime, check_model_config, load_runtime, make_partitioning
from xling.train import run as train_run
from xling.train.data import pack, tokenize_documents
from xling.workdir import Workdir, input_digests, unit_key
from xling.xmrc.settings import parse_list

REPORT_FIELDS = ("progress", "mesh", "bootstrap")
CONDITIONS = ("english", *GRANULARITIES)
SHIPPED_PARALLEL = Path(__file__).resolve().parents[1] / "data" / "parallel" / "sentences.jsonl"
log = logging.getLogger(__name__)


@dataclasses.dataclass
class Plan:
    conditions: list[str]
    priors: list[str]
    variants: list[str]
    languages: list[str]
    docs: list
    people: list
    mc: tuple[dict, dict]  # english {split: {subject: items}}, translated {split: {lang: ...}}
    inputs: dict


def plan(config: ml_collections.ConfigDict) -> Plan:
    check_model_config(config.model)
    conditions = parse_list(config.conditions, "config.conditions")
    for c in conditions:
        if c not in CONDITIONS:
            raise DataError(f"unknown condition {c!r} (known: {', '.join(CONDITIONS)})")
    priors = parse_list(config.facts.priors, "config.facts.priors")
    for p in priors:
        if p != "none" and p not in conditions:
            raise DataError(f"config.facts.priors: {p!r} is neither 'none' nor one of config.conditions")
    languages = parse_list(config.languages, "config.languages")
    if "en" not in languages:
        raise DataError("config.languages must include en (the fine-tuning facts are English)")
    variants = parse_list(config.eval.variants, "config.eval.variants")
    for v in variants:
        parse_variant(v)
    train_run.check(config.finetune, "finetune")
    train_run.check(config.facts, "facts")
    parts = parse_list(config.facts.parts, "config.facts.parts")
    fictitious.training_texts([], "en", parts)  # checks the part names
    parallel = Path(config.data.parallel or SHIPPED_PARALLEL).expanduser()
    docs = aligned_documents(parallel, config.data.group_by or None, tuple(languages))
    if not docs:
        raise DataError(f"{parallel}: the parallel corpus is empty")
    people = load_people(config.data.people, tuple(languages))
    if config.eval.num_people:
        people = people[: config.eval.num_people]
    from xling.experiments.knowledge_barriers import load_data

    kb = ml_collections.ConfigDict(
        {"data": config.data.mc.to_dict(), "num_questions": config.eval.num_questions}
    )
    english, translated, files = load_data(kb)
    files = [parallel, Path(config.data.people or fictitious_file()), *files]
    return Plan(conditions, priors, variants, languages, docs, people, (english, translated),
                input_digests({"data": files}))  # fmt: skip


def fictitious_file() -> Path:
    from xling.data.people import SHIPPED

    return SHIPPED


def finetune_rows(tokenizer, p: Plan, condition: str, config) -> list[dict]:
    """Exactly one run's rows (steps x batch x accumulation) of packed text for `condition`."""
    block = config.finetune
    need = block.steps * block.batch_size * block.accumulation
    rows: list[dict] = []
    for epoch in range(10_000):
        if condition == "english":
            texts = [" ".join(s["en"] for s in doc) for doc in p.docs]
        else:
            mixed = mix_corpus(p.docs, condition, p.languages, seed=config.mixing.seed + epoch,
                               chunk_words=config.mixing.chunk_words)  # fmt: skip
            texts = [t for t, _ in mixed]
        rows += pack(tokenize_documents(tokenizer, texts), block.length, tokenizer.pad_id or 0)
        if len(rows) >= need:
            return rows[:need]
    raise DataError("the parallel corpus yields no rows")


def fact_rows(tokenizer, p: Plan, config) -> list[dict]:
    texts = fictitious.training_texts(p.people, "en", parse_list(config.facts.parts, "config.facts.parts"))
    rows = pack(tokenize_documents(tokenizer, texts), config.facts.length, tokenizer.pad_id or 0)
    need = config.facts.batch_size * config.facts.accumulation
    if len(rows) < need:
        raise DataError(f"the facts make {len(rows)} rows, fewer than one step's {need}")
    return rows


class _Evaluator:
    def __init__(self, config, p: Plan, work: Workdir, rt: Runtime):
        self.config, self.p, self.work, self.rt = config, p, work, rt
        english, translated = p.mc
        self.tests = {v: build_variant(v, english["test"], translated["test"]) for v in p.variants}
        self.items = fictitious.qa_items(p.people, p.languages, seed=config.seed)

    def units(self, tag: str, mc: bool, qa: bool) -> list[str]:
        return [unit_key(tag, "mc", v) for v in self.p.variants if mc] + [
            unit_key(tag, "qa", lang) for lang in self.p.languages if qa
        ]

    def pending(self, tag: str, mc: bool, qa: bool) -> bool:
        return any(not self.work.done(u) for u in self.units(tag, mc, qa))

    def run(self, tag: str, model, mc: bool, qa: bool) -> None:
        rt = Runtime(dataclasses.replace(self.rt.loaded, model=model), self.rt.partitioning)
        for v in self.p.variants if mc else ():
            name = unit_key(tag, "mc", v)
            if not self.work.done(name):
                spec = UnitSpec(v, scoring="cloze", batch_size=self.config.eval.batch_size)
                log.info("%s: multiple choice %s", tag, v)
                # One subject per call: a call scores all its options at once, and the
                # full-vocabulary log-probabilities of 160 questions x 4 options peak near 20 GB.
                records = [
                    r
                    for s in sorted(self.tests[v])
                    for r in run_unit(rt, tag, spec, {s: self.tests[v][s]}, {})
                ]
                self.work.write_unit(name, records)
        for lang in self.p.languages if qa else ():
            name = unit_key(tag, "qa", lang)
            if not self.work.done(name):
                log.info("%s: fictitious QA in %s", tag, lang)
                recs = fictitious.score_items(model, rt.tokenizer, self.items[lang], partitioning=rt.partitioning,
                                              batch=self.config.eval.batch_size)  # fmt: skip
                self.work.write_unit(name, [{"model": tag, **r} for r in recs])


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    p = plan(config)
    part = make_partitioning(config.get("mesh"))
    work = Workdir(workdir).start({**config.to_dict(), "inputs": p.inputs}, REPORT_FIELDS)
    rt = load_runtime(config.model, partitioning=part)
    ev = _Evaluator(config, p, work, rt)
    ev.run("base", rt.model, mc=True, qa=True)
    tuned, runs = {}, {}
    for cond in p.conditions:
        tag = f"ft_{cond}"
        rows = finetune_rows(rt.tokenizer, p, cond, config)
        log.info("fine-tuning %s: %d rows of %d tokens", tag, len(rows), config.finetune.length)
        tuned[cond], runs[tag] = train_run.fit(rt.model, rows, config.finetune, work.path / "train" / tag,
                                               partitioning=part, progress=config.progress)  # fmt: skip
        ev.run(tag, tuned[cond], mc=True, qa=config.eval.qa_after_finetune)
    facts = fact_rows(rt.tokenizer, p, config)
    for prior in p.priors:
        tag = f"facts_{prior}"
        start = rt.model if prior == "none" else tuned[prior]
        log.info("learning the facts from %s: %d rows", prior, len(facts))
        model, runs[tag] = train_run.fit(start, facts, config.facts, work.path / "train" / tag,
                                         partitioning=part, progress=config.progress)  # fmt: skip
        ev.run(tag, model, mc=config.eval.mc_after_facts, qa=True)
        del model

    tags = ["base", *(f"ft_{c}" for c in p.conditions), *(f"facts_{q}" for q in p.priors)]
    records = [r for t in tags for u in ev.units(t, True, True) if work.done(u) for r in work.read_unit(u)]
    work.write("results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    summary = finetune_report.summarize(
        records, runs, p.priors, n_resamples=config.bootstrap, seed=config.seed
    )
    work.write("summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    work.write("summary.md", finetune_report.summary_markdown(summary, config))
    return summary

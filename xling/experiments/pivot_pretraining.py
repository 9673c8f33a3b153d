"""Semantic pivots from data (He et al. 2025; docs/METHODS.md §1): mine pivots, select a
pivot-rich pre-training mix, continue pre-training, measure word translation again.

Stages, each resumable in the workdir (a finished stage is read back, never recomputed):

1. **Corpus**: sharded JSONL (`corpus.shards`), languages identified where a document has
   none; "" writes the default corpus (`xling.corpus.default_corpus`: model-generated text
   from the `dataset_build` package plus xling's parallel texts) to `corpus/`.
2. **Mining** (Apache Beam, `xling.corpus.pivot_pipeline`): background document
   frequencies, each word's document sample and its document frequencies, and the token
   co-occurrence graph: `mining/frequencies.json`, `mining/graph.npz`. The words are those
   of the word-translation evaluation's concept pairs; `pivots/candidates.jsonl` holds every
   pair's top-k candidates (`xling.corpus.pivots`), a pair with a word in no document is
   skipped and listed.
3. **Pivot set** (`selection.pivots`): the graph's (`graph.*`), the union of the mined
   candidates, or both: `pivots/pivot_set.json`.
4. **Scoring** (Beam): every document's language, tokens and pivot proportion:
   `documents/rows-*.jsonl`.
5. **Selection** (`xling.corpus.selection`): one mix per `selection.mixes` entry, each of
   exactly `train.steps x train.batch_size x train.accumulation x train.length` tokens:
   `mixes/{mix}.json`.
6. **Continued pre-training**, one run per mix from the same base weights, the same steps
   and tokens (`xling.train`), in `train/{mix}/`; the mix's documents (BOS + text + EOS, cut
   to the tokens taken) laid end to end and cut into rows (`xling.train.data.pack_dense`).
7. **Evaluation** of the base model and of each run at every `eval.every` steps and the last:
   the word-translation experiment (Score, accuracy, % pivot / co-occurrence behaviour) and
   few-shot translation of the shipped parallel sentences (chrF), in
   `eval/{base | mix/step_N}/{word_translation, translation}`.

`summary.md`: the mixes, the metrics per mix and step with bootstrap 95% CIs and the change
from the base model, the top mined pivots per pair; plots of each metric vs step per mix.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import ml_collections

from xling.corpus import selection as selection_lib
from xling.corpus.graph import GraphSpec
from xling.errors import DataError
from xling.runtime import check_model_config, load_runtime, make_partitioning
from xling.train import run as train_run
from xling.workdir import Workdir, atomic_write, expand_files, input_digests, read_jsonl, write_jsonl
from xling.xmrc.settings import parse_list

REPORT_FIELDS = ("progress", "mesh", "bootstrap", "eval.keep_models", "eval.keep_checkpoints")
PIVOT_SOURCES = ("graph", "mined", "both")
log = logging.getLogger(__name__)


@dataclasses.dataclass
class Plan:
    mixes: list[str]
    languages: list[str]
    graph: GraphSpec
    word_pairs: list[tuple[str, str, str]]  # (language pair, src word, tgt word)
    eval_steps: list[int]
    budget: int
    inputs: dict


def plan(config: ml_collections.ConfigDict) -> Plan:
    """Validate every field and input before anything runs."""
    from xling.experiments import word_translation

    check_model_config(config.model)
    train_run.check(config.train)
    mixes = parse_list(config.selection.mixes, "config.selection.mixes")
    if not mixes:
        raise DataError("config.selection.mixes names no mix")
    for m in mixes:
        selection_lib.SelectionSpec(strategy=m, budget=1, alpha=config.selection.alpha)
    if config.selection.pivots not in PIVOT_SOURCES:
        raise DataError(
            f"config.selection.pivots must be one of {', '.join(PIVOT_SOURCES)}, got {config.selection.pivots!r}"
        )
    if config.mining.tokens not in ("model", "words"):
        raise DataError(f"config.mining.tokens must be 'model' or 'words', got {config.mining.tokens!r}")
    for field in ("sample", "top_k", "workers", "min_docs"):
        if not isinstance(config.mining[field], int) or config.mining[field] < 1:
            raise DataError(f"config.mining.{field} must be an integer >= 1, got {config.mining[field]!r}")
    try:
        graph = GraphSpec(**config.graph.to_dict())
    except (TypeError, ValueError) as e:
        raise DataError(f"config.graph: {e}") from None
    languages = parse_list(config.corpus.languages, "config.corpus.languages")
    wt = word_translation.plan(config.eval.word_translation)
    if not isinstance(config.mining.num_concepts, int) or config.mining.num_concepts < 0:
        raise DataError(
            f"config.mining.num_concepts must be an integer >= 0, got {config.mining.num_concepts!r}"
        )
    word_pairs = []
    for s, t in wt.pairs:  # the evaluation's pairs; their first N lexicon concepts (0 = all)
        concepts = wt.lexicon.pairs(s, t).concepts
        for c in concepts[: config.mining.num_concepts or len(concepts)]:
            word_pairs.append((f"{s}-{t}", c.word(s), c.word(t)))
    every = config.eval.every
    if not isinstance(every, int) or every < 1:
        raise DataError(f"config.eval.every must be an integer >= 1, got {every!r}")
    steps = config.train.steps
    eval_steps = sorted({*range(every, steps + 1, every), steps})
    t = config.train
    budget = t.steps * t.batch_size * t.accumulation * t.length
    files = {"corpus": expand_files(config.corpus.shards.split(","))} if config.corpus.shards else {}
    if config.corpus.shards and not files["corpus"]:
        raise DataError(f"config.corpus.shards: no file matches {config.corpus.shards!r}")
    return Plan(mixes, languages, graph, word_pairs, eval_steps, budget, input_digests(files))


def _corpus(config, work: Workdir, p: Plan) -> list[str]:
    if config.corpus.shards:
        return [str(f) for f in expand_files(config.corpus.shards.split(","))]
    from xling.corpus.default_corpus import write_default_corpus

    return [str(f) for f in write_default_corpus(work.path / "corpus", p.languages)]


def _tokenizer_name(config) -> str | None:
    return config.model.name if config.mining.tokens == "model" else None


def _options(config):
    from xling.corpus.pivot_pipeline import options

    args = [a for a in config.mining.runner_args.split() if a]
    return options(config.mining.workers, args)


def _mine(config, work: Workdir, p: Plan, shards: list[str]):
    from xling.corpus.graph import CooccurrenceGraph
    from xling.corpus.pivots import DocumentFrequencies

    here = work.path / "mining"
    freqs_path, graph_path = here / "frequencies.json", here / "graph.npz"
    if not (freqs_path.is_file() and graph_path.is_file()):
        from xling.corpus import pivot_pipeline

        words = sorted({w for _, s, t in p.word_pairs for w in (s, t)})
        log.info("mining: %d words over %d shards", len(words), len(shards))
        freqs, graph = pivot_pipeline.mine(
            shards, words, tokenizer=_tokenizer_name(config), sample=config.mining.sample,
            seed=config.seed, graph=p.graph, pipeline_options=_options(config),
        )  # fmt: skip
        here.mkdir(parents=True, exist_ok=True)
        graph.save(str(graph_path) + ".partial")
        Path(str(graph_path) + ".partial").rename(graph_path)
        freqs.save(freqs_path)  # written last: its presence marks the stage done
    return DocumentFrequencies.load(freqs_path), CooccurrenceGraph.load(graph_path)


def _candidates(config, work: Workdir, p: Plan, freqs) -> tuple[list[dict], list[dict]]:
    """Every word pair's top-k candidates; a pair with a word in fewer than `mining.min_docs`
    documents is skipped and listed (its document frequencies would be noise)."""
    import regex

    from xling.corpus.pivots import pivot_candidates

    decode = _decoder(config)
    letter = regex.compile(r"\p{L}")
    rows, skipped = [], []
    for pair, src, tgt in p.word_pairs:
        few = [w for w in (src, tgt) if freqs.word(w).containing < config.mining.min_docs]
        if few:
            skipped.append({"pair": pair, "src": src, "tgt": tgt, "too_few_documents": few})
            continue
        ranked = pivot_candidates(freqs, src, tgt, len(freqs.background))
        if config.mining.word_tokens_only:  # punctuation, digits and byte pieces carry no meaning
            ranked = [c for c in ranked if letter.search(decode(c.token))]
        docs = min(freqs.word(src).containing, freqs.word(tgt).containing)
        for rank, c in enumerate(ranked[: config.mining.top_k], 1):
            rows.append({"pair": pair, "src": src, "tgt": tgt, "documents": docs, "rank": rank, "token": c.token,
                         "text": decode(c.token), **{k: getattr(c, k) for k in
                         ("score", "adj_src", "adj_tgt", "df_src", "df_tgt", "df_bg")}})  # fmt: skip
    if skipped:
        log.warning("%d of %d word pairs skipped: a word in fewer than %d documents (listed in summary.md)",
                    len(skipped), len(p.word_pairs), config.mining.min_docs)  # fmt: skip
    (work.path / "pivots").mkdir(parents=True, exist_ok=True)
    write_jsonl(work.path / "pivots" / "candidates.jsonl", rows)
    return rows, skipped


def _decoder(config):
    if config.mining.tokens != "model":
        return str
    from xling.registry import load_tokenizer

    tok = load_tokenizer(config.model.name)
    return lambda t: tok.decode([t], skip_special_tokens=False)


def _pivot_set(config, work: Workdir, p: Plan, graph, candidates: list[dict]) -> list:
    pivots: dict = {}
    if config.selection.pivots in ("graph", "both"):
        pivots.update(dict.fromkeys(graph.pivot_set(p.graph)))
    if config.selection.pivots in ("mined", "both"):
        pivots.update(dict.fromkeys(r["token"] for r in candidates))
    if not pivots:
        raise DataError(
            "the pivot set is empty: lower graph.min_degree / graph.min_weight, or mine more pairs"
        )
    (work.path / "pivots").mkdir(parents=True, exist_ok=True)
    atomic_write(work.path / "pivots" / "pivot_set.json", json.dumps(list(pivots), ensure_ascii=False) + "\n")
    return list(pivots)


def _documents(config, work: Workdir, p: Plan, shards: list[str], pivots: list) -> list[dict]:
    here = work.path / "documents"
    if not here.is_dir():
        from xling.corpus import pivot_pipeline

        tmp = work.path / "documents.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        pivot_pipeline.score_documents(
            shards, set(pivots), tmp / "rows", tokenizer=_tokenizer_name(config), languages=p.languages,
            pipeline_options=_options(config),
        )  # fmt: skip
        tmp.rename(here)
    rows = [r for f in sorted(here.glob("rows-*.jsonl")) for r in read_jsonl(f)]
    if not rows:
        raise DataError("the corpus has no documents")
    return sorted(rows, key=lambda r: r["id"])


def _mix(config, work: Workdir, p: Plan, name: str, rows: list[dict]) -> list[tuple[str, int]]:
    path = work.path / "mixes" / f"{name}.json"
    if not path.is_file():
        spec = selection_lib.SelectionSpec(
            strategy=name, budget=p.budget, seed=config.seed, min_tokens=config.selection.min_tokens,
            alpha=config.selection.alpha,
        )  # fmt: skip
        mix = selection_lib.select(rows, spec)
        body = {"mix": mix, **selection_lib.describe(mix, rows)}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(body, ensure_ascii=False) + "\n")
    return [tuple(x) for x in json.loads(path.read_text(encoding="utf-8"))["mix"]]


def training_rows(tokenizer, shards: list[str], mix: list[tuple[str, int]], length: int) -> list[dict]:
    """The mix's documents (BOS + text + EOS, the first n tokens of each), in mix order, packed
    densely into rows of `length` tokens."""
    from xling.corpus.documents import read_documents
    from xling.train.data import pack_dense, tokenize_documents

    wanted = {doc_id for doc_id, _ in mix}
    texts = {d.id: d.text for d in read_documents(shards) if d.id in wanted}
    ids = dict(zip(texts, tokenize_documents(tokenizer, list(texts.values())), strict=True))
    return pack_dense([ids[doc_id][:n] for doc_id, n in mix], length, tokenizer.pad_id)


def _evaluations(config) -> dict:
    from xling.experiments import find

    return {
        "word_translation": (find("word_translation").run, config.eval.word_translation),
        "translation": (find("surface").run, config.eval.translation),
    }


def _evaluate_base(config, work: Workdir) -> None:
    for name, (run, sub) in _evaluations(config).items():
        out = work.path / "eval" / "base" / name
        if not (out / "summary.json").is_file():
            c = ml_collections.ConfigDict(sub.to_dict())
            if "models" in c:
                c.models = config.model.name
            else:
                c.model.name = config.model.name
            run(c, out)


def _metrics(path: Path) -> list[dict]:
    import csv

    return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(path.open(encoding="utf-8"))]


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    from xling.tracing import pivot_report
    from xling.train.hooks import experiments_hook

    p = plan(config)
    part = make_partitioning(config.get("mesh"))
    work = Workdir(workdir).start({**config.to_dict(), "inputs": p.inputs}, REPORT_FIELDS)
    shards = _corpus(config, work, p)
    freqs, graph = _mine(config, work, p, shards)
    candidates, skipped = _candidates(config, work, p, freqs)
    pivots = _pivot_set(config, work, p, graph, candidates)
    rows = _documents(config, work, p, shards, pivots)
    mixes = {name: _mix(config, work, p, name, rows) for name in p.mixes}
    _evaluate_base(config, work)

    rt = None
    runs = {}
    evaluations = _evaluations(config)
    for name, mix in mixes.items():
        if all((work.path / "eval" / name / f"step_{s}" / e / "summary.json").is_file()
               for s in p.eval_steps for e in evaluations):  # fmt: skip
            runs[name] = _metrics(work.path / "train" / name / "metrics.csv")
            continue
        if rt is None:
            rt = load_runtime(config.model, partitioning=part)
        hook = experiments_hook(evaluations, work.path / "eval" / name, rt.tokenizer, rt.loaded.path,
                                keep_model=config.eval.keep_models)  # fmt: skip
        train_rows = training_rows(rt.tokenizer, shards, mix, config.train.length)
        block = ml_collections.ConfigDict(config.train.to_dict())
        block.optimizer.total_steps = config.train.steps  # one schedule across the segments
        run_dir = work.path / "train" / name
        for step in p.eval_steps:
            evaluated = all((work.path / "eval" / name / f"step_{step}" / e / "summary.json").is_file()
                            for e in evaluations)  # fmt: skip
            if evaluated:  # the run went past this step (or finished) before it stopped
                continue
            # Training to each evaluation step in turn: the same steps and batches as one run.
            block.steps = step
            model, _ = train_run.fit(rt.model, train_rows, block, run_dir, partitioning=part,
                                     progress=config.progress)  # fmt: skip
            hook(step, model)
            del model
        if not config.eval.keep_checkpoints:  # evaluated at every step: nothing resumes from them
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        runs[name] = _metrics(run_dir / "metrics.csv")

    summary = pivot_report.summarize(work.path, p.mixes, p.eval_steps, runs, candidates, skipped, config)
    work.write("summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    work.write("summary.md", pivot_report.summary_markdown(summary, config))
    pivot_report.plot(summary, work.path)
    return summary

"""The word-translation experiment end to end: config -> per-pair records -> summary and plots.

Each finished pair is written atomically to `pairs/{src}-{tgt}.jsonl` before the next
starts, so an interrupted run loses at most the pair in progress; a re-run with the
same workdir and config skips finished pairs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import ml_collections

from xling.data.languages import get_language
from xling.data.lexicon import Lexicon
from xling.data.lexicon_formats import load_lexicon
from xling.errors import DataError, XlingError
from xling.runtime import check_model_config, load_runtime, make_partitioning
from xling.tracing.prompts import PromptSpec, demo_sets, distractors, example_rng
from xling.tracing.runner import TraceSpec, check_pair, run_pair
from xling.workdir import Workdir, expand_files, input_digests

BUNDLED_LEXICON = Path(__file__).resolve().parents[1] / "data" / "lexicons" / "core.jsonl"
# Fields that may change between runs in one workdir without invalidating finished pairs:
# which pairs to run, and what only changes the report or how the same numbers are computed.
REPORT_FIELDS = ("pairs", "progress", "mesh", "bootstrap")


def parse_pairs(spec: str | list) -> list[tuple[str, str]]:
    """'fr-zh,de-en' -> [('fr', 'zh'), ('de', 'en')], with codes checked."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    pairs = []
    for item in (i.strip() for i in items):
        parts = item.split("-")
        if len(parts) != 2:
            raise DataError(f"pair {item!r} is not of the form src-tgt (e.g. fr-zh)")
        pair = tuple(get_language(p).code for p in parts)
        if pair in pairs:
            # Counting a pair twice would double its n and narrow its CIs.
            raise DataError(f"pair {'-'.join(pair)} is given twice")
        pairs.append(pair)
    if not pairs:
        raise DataError("no language pairs given")
    return pairs


def load_experiment_lexicon(path: str, src: str = "", tgt: str = "") -> Lexicon:
    """The configured lexicon (default: the bundled one); src/tgt name the languages of a
    MUSE dictionary whose file name does not."""
    return load_lexicon(path or BUNDLED_LEXICON, src=src or None, tgt=tgt or None)


def select_concepts(lexicon: Lexicon, src: str, tgt: str, n: int, pos: str, seed: int):
    pool = lexicon.pairs(src, tgt)
    if pos:
        pool = pool.by_pos(pos)
    concepts = list(pool.concepts)
    order = example_rng(seed, "concepts", src, tgt).permutation(len(concepts))
    picked = [concepts[i] for i in order]
    return picked[:n] if n else picked


@dataclasses.dataclass
class Plan:
    """Everything a run needs, checked before a workdir is written or a model loads."""

    pairs: list[tuple[str, str]]
    lexicon: Lexicon
    prompts: PromptSpec
    trace: TraceSpec
    lens_dir: str
    selected: dict
    inputs: dict[str, str]  # content digests of every input file


def _int(config, field: str, low: int) -> int:
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DataError(f"config.{field} must be an integer >= {low}, got {value!r}")
    return value


def plan(config: ml_collections.ConfigDict) -> Plan:
    """Validate the whole config: types, ranges, choices, files, and the data each pair
    needs (demonstrations and distractors per concept) against what the lexicon has."""
    check_model_config(config.model)
    _int(config, "num_concepts", 0)
    _int(config, "bootstrap", 1)
    _int(config, "seed", 0)
    pairs = parse_pairs(config.pairs)
    lexicon = load_experiment_lexicon(
        config.data.lexicon, config.data.get("src", ""), config.data.get("tgt", "")
    )
    for src, tgt in pairs:
        check_pair(lexicon, src, tgt)
    prompts = PromptSpec(**config.prompt.to_dict(), seed=config.seed)
    trace_cfg = config.trace.to_dict()
    lens_dir = trace_cfg.pop("lens")
    if lens_dir and not Path(lens_dir).expanduser().is_dir():
        raise XlingError(f"trace.lens: no tuned lens directory at {lens_dir}")
    trace = TraceSpec(**trace_cfg)
    selected = {
        pair: select_concepts(lexicon, *pair, config.num_concepts, config.data.pos, config.seed)
        for pair in pairs
    }
    for (src, tgt), concepts in selected.items():
        if not concepts:
            raise DataError(f"{src}-{tgt}: no concepts to translate (data.pos={config.data.pos!r}?)")
        pool = lexicon.pairs(src, tgt).concepts
        for c in concepts:  # cheap, and the same calls the run makes: a shortage fails now
            demo_sets(pool, c, prompts, src, tgt)
            if trace.score:
                distractors(pool, c, src, trace.num_distractors, prompts.seed, tgt)
    files = {"data.lexicon": [Path(config.data.lexicon or BUNDLED_LEXICON)]}
    if config.frequency.source == "counts" and config.frequency.counts:
        files["frequency.counts"] = [Path(config.frequency.counts)]
    if config.frequency.source == "corpus" and config.frequency.corpus:
        files["frequency.corpus"] = expand_files(config.frequency.corpus.split(","))
    if lens_dir:
        files["trace.lens"] = sorted(p for p in Path(lens_dir).expanduser().rglob("*") if p.is_file())
    return Plan(pairs, lexicon, prompts, trace, lens_dir, selected, input_digests(files))


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Run (or resume) the experiment; returns the summary dict."""
    from xling.tracing import report  # matplotlib only when results are written

    p = plan(config)
    pairs, lexicon, prompts, trace, lens_dir, selected = (
        p.pairs, p.lexicon, p.prompts, p.trace, p.lens_dir, p.selected
    )  # fmt: skip
    words = [c.word(lang) for (src, tgt), cs in selected.items() for c in cs for lang in (src, tgt)]
    word_pairs = [(c.word(src), c.word(tgt)) for (src, tgt), cs in selected.items() for c in cs]
    frequency = report.frequency_source(config.frequency, words, word_pairs)
    part = make_partitioning(config.get("mesh"))  # a mesh that cannot be built fails here
    work = Workdir(workdir, units="pairs").prepare()
    # The fingerprint holds the config and the content of every input file: a lexicon
    # edited in place at the same path does not mix with units computed from the old one.
    cfg = {**config.to_dict(), "inputs": p.inputs}
    work.check_config(cfg, REPORT_FIELDS)
    work.write_config(cfg)

    rt = lens = None
    for src, tgt in pairs:
        unit = f"{src}-{tgt}"
        if work.done(unit):
            logging.info("%s: finished earlier, kept (%s)", unit, work.unit(unit))
            continue
        if rt is None:
            rt = load_runtime(config.model, partitioning=part)
            if lens_dir:
                from xling.lens import load_tuned_lens

                lens = load_tuned_lens(lens_dir, rt.model)  # refuses a lens of another model
        records = _run_with_progress(
            rt, lexicon, src, tgt, selected[src, tgt], prompts, trace, config.progress, lens
        )
        report.add_frequencies(records, frequency, config.frequency.kind)
        work.write_unit(unit, records)

    records = [r for src, tgt in pairs for r in work.read_unit(f"{src}-{tgt}")]
    work.write("results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    summary = report.summarize(records, pairs, n_resamples=config.bootstrap, seed=config.seed)
    work.write("summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    work.write("summary.md", report.summary_markdown(summary, config))
    report.plot_layers(records, pairs, work.path, n_resamples=config.bootstrap, seed=config.seed)
    report.plot_frequency(records, pairs, work.path)
    return summary


def _run_with_progress(rt, lexicon, src, tgt, concepts, prompts, trace, show: bool, lens=None):
    from tqdm.auto import tqdm

    with tqdm(total=len(concepts), desc=f"{src}-{tgt}", unit="word", disable=not show) as bar:
        return run_pair(
            rt.model,
            rt.tokenizer,
            lexicon,
            src,
            tgt,
            concepts,
            prompts,
            trace,
            bar.update,
            lens,
            partitioning=rt.partitioning,
        )

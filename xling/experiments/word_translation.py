"""The word-translation experiment end to end: config -> per-pair records -> summary and plots.

Each finished pair is written atomically to `pairs/{src}-{tgt}.jsonl` before the next
starts, so an interrupted run loses at most the pair in progress; a re-run with the
same workdir and config skips finished pairs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import ml_collections

from xling.data.languages import get_language
from xling.data.lexicon import Lexicon, load_lexicon
from xling.errors import DataError, XlingError
from xling.runtime import check_model_config, load_runtime, make_partitioning
from xling.tracing.prompts import PromptSpec, example_rng
from xling.tracing.runner import TraceSpec, check_pair, run_pair
from xling.workdir import Workdir

BUNDLED_LEXICON = Path(__file__).resolve().parents[1] / "data" / "lexicons" / "core.jsonl"
# Fields that may change between runs in one workdir without invalidating finished pairs.
_RESUMABLE = ("pairs", "progress", "mesh")


def parse_pairs(spec: str | list) -> list[tuple[str, str]]:
    """'fr-zh,de-en' -> [('fr', 'zh'), ('de', 'en')], with codes checked."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    pairs = []
    for item in (i.strip() for i in items):
        parts = item.split("-")
        if len(parts) != 2:
            raise DataError(f"pair {item!r} is not of the form src-tgt (e.g. fr-zh)")
        pairs.append(tuple(get_language(p).code for p in parts))
    if not pairs:
        raise DataError("no language pairs given")
    return pairs


def load_experiment_lexicon(path: str) -> Lexicon:
    return load_lexicon(path or BUNDLED_LEXICON)


def select_concepts(lexicon: Lexicon, src: str, tgt: str, n: int, pos: str, seed: int):
    pool = lexicon.pairs(src, tgt)
    if pos:
        pool = pool.by_pos(pos)
    concepts = list(pool.concepts)
    order = example_rng(seed, "concepts", src, tgt).permutation(len(concepts))
    picked = [concepts[i] for i in order]
    return picked[:n] if n else picked


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Run (or resume) the experiment; returns the summary dict."""
    from xling.tracing import report  # matplotlib only when results are written

    work = Workdir(workdir, units="pairs").prepare()
    cfg = config.to_dict()
    check_model_config(config.model)
    pairs = parse_pairs(config.pairs)
    lexicon = load_experiment_lexicon(config.data.lexicon)
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
    words = [c.word(lang) for (src, tgt), cs in selected.items() for c in cs for lang in (src, tgt)]
    word_pairs = [(c.word(src), c.word(tgt)) for (src, tgt), cs in selected.items() for c in cs]
    frequency = report.frequency_source(config.frequency, words, word_pairs)
    part = make_partitioning(config.get("mesh"))  # a mesh that cannot be built fails here
    work.check_config(cfg, _RESUMABLE)
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

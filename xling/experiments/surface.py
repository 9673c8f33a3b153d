"""Surface tests (Chua et al. 2025): few-shot translation of the parallel sentences, and how
far code-switching moves a passage's embedding compared with random replacement or deletion.

Each (model, test) with test in ("translation", "embeddings") is a unit, written atomically to
`units/{model}__{test}.jsonl` when it finishes; a re-run with the same workdir and config skips
finished units, and models may be added to a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import ml_collections
import numpy as np

from xling.corpus.codeswitch import GLOSSES, switching_lexicon
from xling.data.languages import get_language
from xling.errors import DataError
from xling.knowledge import surface
from xling.metrics.mt import score_direction
from xling.registry import load_tokenizer
from xling.runtime import check_model_config, load_runtime, make_partitioning, model_block
from xling.workdir import Workdir, input_digests, unit_key
from xling.xmrc.settings import parse_list

# May change between runs in one workdir: which units to run, and what only changes the report.
REPORT_FIELDS = ("models", "progress", "mesh", "bootstrap", "embedding.centre")
TESTS = ("translation", "embeddings")


@dataclasses.dataclass
class Plan:
    models: list[str]
    directions: list[tuple[str, str]]
    demos: list[dict]
    tests: list[dict]
    passages: list[dict]  # {id, source, text, variants: {kind: {text, replaced, eligible, words}}}
    inputs: dict[str, str]


def _int(config, field: str, low: int) -> int:
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DataError(f"config.{field} must be an integer >= {low}, got {value!r}")
    return value


def _passages(config, sentences: list[dict], files: list[Path]) -> list[dict]:
    sources = parse_list(config.passage_sources, "config.passage_sources")
    if not sources:
        raise DataError("config.passage_sources names no source (xquad, sentences)")
    texts = []
    for source in sources:
        if source == "xquad":
            texts += [(i, source, t) for i, t in surface.load_paragraphs(config.data.paragraphs)]
            files.append(Path(config.data.paragraphs or surface.SHIPPED_PARAGRAPHS).expanduser())
        elif source == "sentences":
            texts += [(r["id"], source, r["en"]) for r in sentences]
        else:
            raise DataError(f"config.passage_sources: unknown source {source!r} (known: xquad, sentences)")
    if config.passages and config.passages < len(texts):  # a seeded subset, in data order
        keep = np.random.default_rng(config.seed).choice(len(texts), config.passages, replace=False)
        texts = [texts[k] for k in sorted(keep)]
    cs = config.codeswitch
    languages = tuple(get_language(c).code for c in parse_list(cs.languages, "config.codeswitch.languages"))
    lexicon = switching_lexicon(cs.lexicon)
    files.append(Path(cs.lexicon).expanduser() if cs.lexicon else GLOSSES)
    vocab = surface.english_words(lexicon)
    out = []
    for pid, source, text in texts:
        made = surface.variants(text, lexicon, vocab, cs.rate, languages, config.seed)
        out.append(
            {
                "id": pid,
                "source": source,
                "text": text,
                "variants": {k: dataclasses.asdict(v) for k, v in made.items()},
            }
        )
    return out


def plan(config: ml_collections.ConfigDict) -> Plan:
    """Validate everything before a workdir is written or weights load: fields, directions
    (known languages the sentence set has, a BLEU tokenizer for each target), shots, the
    passages and their code-switched copies, and each model's name."""
    for field, low in (("shots", 0), ("num_sentences", 0), ("passages", 0), ("bootstrap", 1), ("seed", 0)):
        _int(config, field, low)
    models = parse_list(config.models, "config.models")
    if not models:
        raise DataError("config.models names no model")
    for name in models:
        check_model_config(model_block(config, name))
    sentences, languages = surface.load_sentences(config.data.sentences)
    if "en" not in languages:
        raise DataError("the sentence set has no English text (needed for the embedding passages)")
    names = parse_list(config.directions, "config.directions")
    if not names:
        raise DataError("config.directions names no direction")
    directions = [surface.parse_direction(d, languages) for d in names]
    for _, tgt in directions:
        score_direction(["a"], ["a"], tgt)  # the BLEU tokenizer of the target loads
    demos, tests = surface.split_sentences(sentences, config.shots, config.num_sentences)
    files = [Path(config.data.sentences or surface.SHIPPED_SENTENCES).expanduser()]
    passages = _passages(config, sentences, files)
    for name in models:
        load_tokenizer(name)
    return Plan(models, directions, demos, tests, passages, input_digests({"data": files}))


def unit_name(model: str, test: str) -> str:
    return unit_key(model, test)


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Run (or resume) the experiment; returns the summary dict."""
    from tqdm.auto import tqdm

    p = plan(config)
    part = make_partitioning(config.get("mesh"))
    work = Workdir(workdir).start({**config.to_dict(), "inputs": p.inputs}, REPORT_FIELDS)
    for model in p.models:
        todo = [t for t in TESTS if not work.done(unit_name(model, t))]
        if not todo:
            logging.info("%s: both tests finished earlier, kept", model)
            continue
        rt = load_runtime(model_block(config, model), partitioning=part)
        for test in todo:
            if test == "translation":
                total, unit = len(p.directions) * len(p.tests), "sentence"
            else:
                total, unit = 4 * len(p.passages), "text"
            with tqdm(total=total, desc=f"{model} {test}", unit=unit, disable=not config.progress) as bar:
                if test == "translation":
                    records = surface.translation_records(
                        rt, model, p.directions, p.demos, p.tests, config.generation.to_dict(), bar.update
                    )
                else:
                    records = surface.embedding_records(
                        rt, model, p.passages, batch_size=config.embedding.batch_size,
                        skip_bos=config.embedding.skip_bos, progress=bar.update,
                    )  # fmt: skip
            work.write_unit(unit_name(model, test), records)
        del rt

    records = [r for m in p.models for t in TESTS for r in work.read_unit(unit_name(m, t))]
    work.write("results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    summary = surface.summarize(
        records, centre=config.embedding.centre, n_resamples=config.bootstrap, seed=config.seed
    )
    work.write("summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    header = (
        f"Translation: {len(p.tests)} sentences per direction, {config.shots}-shot (demonstrations: "
        f"{', '.join(d['id'] for d in p.demos) or 'none'}), greedy, at most "
        f"{config.generation.max_new_tokens} new tokens, stopped at a newline. Embeddings: "
        f"{len(p.passages)} English passages ({config.passage_sources}), code-switched at rate "
        f"{config.codeswitch.rate} into {config.codeswitch.languages}; mean-pooled hidden states"
        f"{' without the BOS token' if config.embedding.skip_bos else ''}, "
        f"{'centred (the mean pooled state of all texts subtracted) ' if config.embedding.centre else 'raw '}"
        "cosine per layer."
    )
    work.write("summary.md", surface.summary_markdown(summary, header))
    surface.plot_all(summary, work.path)
    return summary

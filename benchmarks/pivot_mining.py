"""Pivot mining throughput: the Beam pipeline (DirectRunner, 1 and 2 worker processes) vs a
straightforward single-process Python counter over the same documents, one run each.

    python benchmarks/pivot_mining.py --workers=1,2

Workload: the default corpus (`xling.corpus.default_corpus`, 8 languages), Gemma 3 270M's
tokenizer, the words of the default evaluation's concept pairs (`experiments/
pivot_pretraining.py`), 1,000 documents sampled per word; document frequencies only (the
co-occurrence graph is timed separately, `--graph`). The plain counter is
`xling.corpus.pivots.count_document_frequencies` (read, tokenize, count, in one loop); the
Beam runs produce the same `DocumentFrequencies` (checked). Prints documents/s, tokens/s and
the ratios.
"""

from __future__ import annotations

import os
import platform
import runpy
import tempfile
import time
from pathlib import Path

from absl import app, flags

_WORKERS = flags.DEFINE_list("workers", ["1", "2"], "DirectRunner worker processes to time")
_GRAPH = flags.DEFINE_bool("graph", True, "also time the pipeline with the co-occurrence graph")


def main(_):
    from xling.corpus import pivot_pipeline, pivots
    from xling.corpus.default_corpus import write_default_corpus
    from xling.corpus.documents import read_documents
    from xling.corpus.graph import GraphSpec
    from xling.experiments import word_translation
    from xling.registry import load_tokenizer

    config = runpy.run_path(str(Path(__file__).parents[1] / "experiments" / "pivot_pretraining.py"))[
        "get_config"
    ]()
    wt = word_translation.plan(config.eval.word_translation)
    words = sorted({c.word(lang) for (s, t), cs in wt.selected.items() for c in cs for lang in (s, t)})
    shards = [str(p) for p in write_default_corpus(Path(tempfile.mkdtemp()) / "corpus")]
    docs = [(d.id, d.text) for d in read_documents(shards)]
    tok = load_tokenizer(config.model.name)
    n_tokens = sum(len(tok.encode(t, add_special_tokens=False)) for _, t in docs)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {len(docs)} documents, "
          f"{n_tokens} tokens, {len(words)} words")  # fmt: skip

    t0 = time.perf_counter()
    ref = pivots.count_document_frequencies(
        docs, words, tokenize=lambda t: tok.encode(t, add_special_tokens=False)
    )
    plain = time.perf_counter() - t0
    print(
        f"plain Python counter: {plain:.1f} s, {len(docs) / plain:.0f} docs/s, {n_tokens / plain:.0f} tokens/s"
    )
    times = {}
    for w in map(int, _WORKERS.value):
        t0 = time.perf_counter()
        got, _ = pivot_pipeline.mine(shards, words, tokenizer=config.model.name,
                                     pipeline_options=pivot_pipeline.options(w))  # fmt: skip
        times[w] = time.perf_counter() - t0
        assert got == ref, "the Beam pipeline disagrees with the plain counter"
        print(f"Beam DirectRunner, {w} worker(s): {times[w]:.1f} s, {len(docs) / times[w]:.0f} docs/s, "
              f"{n_tokens / times[w]:.0f} tokens/s, {plain / times[w]:.2f}x the plain counter")  # fmt: skip
    if 1 in times and 2 in times:
        print(f"scaling 1 -> 2 workers: {times[1] / times[2]:.2f}x")
    if _GRAPH.value:
        g = GraphSpec(**config.graph.to_dict())
        for w in map(int, _WORKERS.value):
            t0 = time.perf_counter()
            pivot_pipeline.mine(shards, words, tokenizer=config.model.name, graph=g,
                                pipeline_options=pivot_pipeline.options(w))  # fmt: skip
            dt = time.perf_counter() - t0
            print(f"with the co-occurrence graph (window {g.window}), {w} worker(s): {dt:.1f} s, "
                  f"{n_tokens / dt:.0f} tokens/s")  # fmt: skip


if __name__ == "__main__":
    app.run(main)

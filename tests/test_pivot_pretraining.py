"""The pivot-pretraining experiment: runlocal end to end on Gemma 3 270M (default corpus ->
mining -> selection -> two training steps per mix -> evaluation), resume after a kill at every
stage, and bad input."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import pytest
from conftest import memory_heavy_lock, with_fields

from xling.errors import DataError
from xling.experiments import pivot_pretraining as pp

pytestmark = pytest.mark.memory_heavy(gb=8)  # trains a real model: 6.7 GB measured (suite_memory)

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "pivot_pretraining.py"


def small_config(**fields):
    """runlocal on SmolLM2-135M (a 49k vocabulary: a third of Gemma 3 270M's training and
    evaluation time here); the Gemma runlocal is measured in the closing note."""
    c = runpy.run_path(str(CONFIG))["get_config"]("runlocal")
    c.progress = c.eval.word_translation.progress = c.eval.translation.progress = False
    c.model.name = c.eval.word_translation.model.name = c.eval.translation.models = "smollm2-135m-instruct"
    return with_fields(c, **fields)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("pivots")
    with memory_heavy_lock():
        return work, pp.run(small_config(), work)


@pytest.mark.slow
def test_runlocal_end_to_end(finished):
    work, summary = finished
    c = small_config()
    budget = c.train.steps * c.train.batch_size * c.train.length
    assert [(p["mix"], p["step"]) for p in summary["points"]] == [("base", 0), ("original", 2), ("pivot", 2)]
    for mix, m in summary["mixes"].items():
        assert m["tokens"] == budget, mix
        assert m["loss_last"] is not None
    # pivot-aware selection holds more pivot tokens than the original distribution
    assert summary["mixes"]["pivot"]["pivot_proportion"] > summary["mixes"]["original"]["pivot_proportion"]
    for p in summary["points"]:
        wt = p["word_translation"]["fr-en"]
        assert wt["n"] == 3 and 0 <= wt["accuracy"][0] <= 1
        assert p["translation"]["en-fr"]["chrf"][0] > 0
    base = summary["points"][0]["word_translation"]["fr-en"]
    assert base["score_change"][0] == 0  # the base model against itself
    assert summary["pivots"] and all(len(rows) <= c.mining.top_k for rows in summary["pivots"].values())
    md = (work / "summary.md").read_text(encoding="utf-8")
    assert "## Mined pivots" in md and "| pivot | 2 | fr-en |" in md
    assert all((work / f"{m}_vs_step.png").is_file() for m in ("score", "accuracy", "pivot", "chrf"))
    assert not any((work / "eval").rglob("model.safetensors"))  # exports deleted after evaluation
    assert not any((work / "train").rglob("checkpoints"))  # and finished mixes' checkpoints
    rows = [
        json.loads(x) for f in (work / "documents").glob("rows-*.jsonl") for x in f.read_text().splitlines()
    ]
    assert {r["lang"] for r in rows} <= {"en", "fr", "zh"}


def _lines(path: Path) -> list[str]:
    return sorted(x for f in path.glob("rows-*.jsonl") for x in f.read_text(encoding="utf-8").splitlines())


def _losses(path: Path) -> list[tuple]:
    import csv

    return [(r["step"], r["loss"], r["grad_norm"]) for r in csv.DictReader(path.open())]


@pytest.mark.slow
def test_resume_after_a_kill_at_every_stage(finished, tmp_path, monkeypatch):
    """Each stage's output removed as a kill would leave it (partial files included): the
    re-run recomputes those and nothing else, and gets the same results."""
    from xling.corpus import pivot_pipeline
    from xling.experiments import surface, word_translation

    work, summary = finished
    w = tmp_path / "w"
    shutil.copytree(work, w)
    from xling.corpus.graph import CooccurrenceGraph

    freqs = (w / "mining" / "frequencies.json").read_text()
    graph = CooccurrenceGraph.load(w / "mining" / "graph.npz")
    shutil.rmtree(w / "mining")  # killed while mining
    (w / "mining").mkdir()
    (w / "mining" / "graph.npz.partial").write_bytes(b"half")
    documents = _lines(w / "documents")
    shutil.rmtree(w / "documents")  # killed while scoring
    (w / "documents.partial").mkdir()
    (w / "mixes" / "pivot.json").unlink()  # killed before selecting the pivot mix
    losses = _losses(w / "train" / "pivot" / "metrics.csv")
    shutil.rmtree(w / "train" / "pivot")  # killed before its training ...
    shutil.rmtree(w / "eval" / "pivot")  # ... so not evaluated
    shutil.rmtree(w / "eval" / "original" / "step_2" / "translation")  # killed while evaluating

    calls = {"mine": 0, "score": 0, "wt": [], "mt": []}
    for name, module, key in (("mine", pivot_pipeline, "mine"), ("score_documents", pivot_pipeline, "score")):
        real = getattr(module, name)

        def counted(*a, _real=real, _key=key, **k):
            calls[_key] += 1
            return _real(*a, **k)

        monkeypatch.setattr(module, name, counted)
    for module, key in ((word_translation, "wt"), (surface, "mt")):
        real = module.run

        def counted_run(c, d, _real=real, _key=key):
            calls[_key].append(Path(d).relative_to(w).as_posix())
            return _real(c, d)

        monkeypatch.setattr(module, "run", counted_run)
    again = pp.run(small_config(), w)
    assert calls["mine"] == 1 and calls["score"] == 1
    assert calls["wt"] == ["eval/pivot/step_2/word_translation"]
    assert calls["mt"] == ["eval/original/step_2/translation", "eval/pivot/step_2/translation"]
    assert (w / "mining" / "frequencies.json").read_text() == freqs
    again_graph = CooccurrenceGraph.load(w / "mining" / "graph.npz")
    assert again_graph.tokens == graph.tokens and (again_graph.weights != graph.weights).nnz == 0
    assert _lines(w / "documents") == documents
    assert not (w / "documents.partial").exists()
    assert _losses(w / "train" / "pivot" / "metrics.csv") == losses
    assert again == summary


def test_bad_input(tmp_path):
    with pytest.raises(DataError, match="unknown selection strategy 'best'"):
        pp.plan(small_config(**{"selection.mixes": "original,best"}))
    with pytest.raises(DataError, match=r"config\.selection\.pivots"):
        pp.plan(small_config(**{"selection.pivots": "all"}))
    with pytest.raises(DataError, match=r"config\.graph: graph\.window must be >= 1"):
        pp.plan(small_config(**{"graph.window": 0}))
    with pytest.raises(DataError, match="no file matches"):
        pp.plan(small_config(**{"corpus.shards": str(tmp_path / "none-*.jsonl")}))
    with pytest.raises(DataError, match=r"config\.mining\.min_docs must be an integer >= 1"):
        pp.plan(small_config(**{"mining.min_docs": 0}))


@pytest.mark.slow
def test_empty_corpus_and_a_word_in_no_document(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no documents"):
        pp.run(small_config(**{"corpus.shards": str(tmp_path / "empty.jsonl"), "mining.tokens": "words"}),
               tmp_path / "w1")  # fmt: skip
    (tmp_path / "en.jsonl").write_text(
        "".join(
            json.dumps({"text": f"the {w} sat here {i}", "lang": "en"}) + "\n"
            for i, w in enumerate(["cat", "dog"] * 5)
        ),
        encoding="utf-8",
    )
    c = small_config(**{"corpus.shards": str(tmp_path / "en.jsonl"), "mining.tokens": "words"})
    p = pp.plan(c)
    from xling.workdir import Workdir

    work = Workdir(tmp_path / "w2").start({**c.to_dict(), "inputs": p.inputs}, pp.REPORT_FIELDS)
    freqs, _ = pp._mine(c, work, p, [str(tmp_path / "en.jsonl")])
    candidates, skipped = pp._candidates(c, work, p, freqs)
    assert len(skipped) == len(p.word_pairs)  # no French word appears: every pair skipped, listed
    assert skipped[0]["too_few_documents"] and not candidates

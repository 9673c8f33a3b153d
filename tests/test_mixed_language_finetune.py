"""The mixed-language fine-tuning experiment end to end (runlocal, the embedded Gemma 3 270M),
its resume, its bad input, and the fictitious-people QA items."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from conftest import memory_heavy_lock, with_fields

from xling.data.people import load_people
from xling.errors import DataError, XlingError
from xling.experiments import mixed_language_finetune as mlft
from xling.knowledge import fictitious

pytestmark = pytest.mark.memory_heavy(gb=8)  # trains a real model: 6.3 GB measured (suite_memory)

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "mixed_language_finetune.py"
get_config = runpy.run_path(str(CONFIG))["get_config"]


def small_config(**fields):
    """runlocal on SmolLM2-135M (a 49k vocabulary: training and scoring a fraction of Gemma 3
    270M's time and memory here); the Gemma runlocal is measured in the closing note."""
    c = get_config("runlocal")
    c.model.name = "smollm2-135m-instruct"
    c.progress = False
    c.data.mc.subjects = "astronomy"
    return with_fields(c, **fields)


def test_qa_items_share_distractors_across_languages():
    people = load_people()
    items = fictitious.qa_items(people, ("en", "fr", "de"), seed=0)
    assert len(items["en"]) == 24 * 8
    by_id = {lang: {it.id: it for it in items[lang]} for lang in items}
    facts = {f.id: f for p in people for f in p.facts}
    answers = {lang: {f.answer[lang] for f in facts.values()} for lang in ("en", "fr", "de")}
    for fid, en in by_id["en"].items():
        assert en.choices[en.answer] == facts[fid].answer["en"] and len(set(en.choices)) == 4
        for lang in ("fr", "de"):
            it = by_id[lang][fid]
            assert it.answer == en.answer and it.question == facts[fid].question[lang]
            assert it.choices[it.answer] == facts[fid].answer[lang]
            assert set(it.choices) <= answers[lang]  # every distractor is a real answer in that language
        slot = int(fid.rsplit("-", 1)[1]) - 1
        if slot == 0:  # birth years are asked against other birth years
            others = {f.answer["en"] for f in facts.values() if f.id.endswith("-1")}
            assert set(en.choices) <= others
    assert fictitious.qa_items(people, ("en",), seed=0) == {"en": items["en"]}
    assert fictitious.qa_items(people, ("en",), seed=1) != {"en": items["en"]}
    gold = np.bincount([it.answer for it in items["en"]], minlength=4)
    assert gold.min() > 30  # the gold position is spread over A-D
    texts = fictitious.training_texts(people[:2], "en")
    assert (
        len(texts) == 2 * 9 and texts[1] == "Question: In which year was Ingrid Solhaug born?\nAnswer: 1923"
    )
    with pytest.raises(DataError, match="training parts must be some of"):
        fictitious.training_texts(people, "en", ("wiki",))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("mlft")
    with memory_heavy_lock():
        return work, mlft.run(small_config(), work)


@pytest.mark.slow
def test_runlocal_end_to_end(finished):
    work, summary = finished
    records = [json.loads(x) for x in (work / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    mc = [r for r in records if "variant" in r]
    qa = [r for r in records if "variant" not in r]
    # MC: base, ft_english, ft_chunk x (en, mixup) x 1 astronomy question
    assert sorted({(r["model"], r["variant"]) for r in mc}) == sorted(
        (m, v) for m in ("base", "ft_english", "ft_chunk") for v in ("en", "mixup")
    )
    # QA: base, facts_none, facts_chunk x 3 languages x 4 people x 8 facts
    assert len(qa) == 3 * 3 * 32 and {r["model"] for r in qa} == {"base", "facts_none", "facts_chunk"}
    for r in qa:
        assert r["pred"] == int(np.argmax(r["option_scores"])) and r["correct"] == (r["pred"] == r["answer"])
    train = summary["training"]
    assert set(train) == {"ft_english", "ft_chunk", "facts_none", "facts_chunk"}
    # the same budget: one step of 2 full packed rows of 64 tokens, 63 scored targets each at most
    assert train["ft_english"]["steps"] == train["ft_chunk"]["steps"] == 1
    assert 100 <= train["ft_chunk"]["tokens"] <= 126 and 100 <= train["ft_english"]["tokens"] <= 126
    # fact learning starts from the fine-tuned weights, not the base model's
    assert train["facts_chunk"]["first_loss"] != train["facts_none"]["first_loss"]
    for tag in train:
        run = work / "train" / tag
        assert (run / "metrics.csv").is_file() and any((run / "tensorboard").iterdir())
    rows = {(r["model"], r["lang"]): r for r in summary["fictitious_qa"]}
    assert "change_vs_no_prior" in rows["facts_chunk", "fr"] and "gap_from_en" in rows["facts_none", "de"]
    md = (work / "summary.md").read_text()
    assert "| facts_chunk | fr | 32 |" in md and "| ft_chunk | mixup | 1 |" in md


@pytest.mark.slow
def test_resume_recomputes_nothing(finished, tmp_path, monkeypatch):
    """A run killed after its fine-tunings and before the fact learning: the re-run trains
    only the fact-learning runs and evaluates only their units."""
    import shutil

    work, _ = finished
    shutil.copytree(work, tmp_path / "w")
    w = tmp_path / "w"
    for tag in ("facts_none", "facts_chunk"):
        shutil.rmtree(w / "train" / tag)
        for unit in (w / "units").glob(f"{tag}__*"):
            unit.unlink()
    (w / "results.jsonl").unlink()
    steps, units = [], []
    real_train, real_score = mlft.train_run.loop.train, mlft.fictitious.score_items
    monkeypatch.setattr(mlft.train_run.loop, "train",
                        lambda *a, **k: steps.append(str(k["workdir"])) or real_train(*a, **k))  # fmt: skip
    monkeypatch.setattr(
        mlft.fictitious, "score_items", lambda *a, **k: units.append(1) or real_score(*a, **k)
    )
    monkeypatch.setattr(mlft, "run_unit", lambda *a, **k: pytest.fail("a finished MC unit ran again"))
    mlft.run(small_config(), w)
    assert len(units) == 2 * 3  # the two fact-learning models x 3 languages
    assert (w / "results.jsonl").read_text() == (work / "results.jsonl").read_text()
    with pytest.raises(XlingError, match="holds results of a different config"):
        mlft.run(small_config(**{"finetune.optimizer.learning_rate": 1e-3}), w)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"conditions": "english,word"}, "unknown condition 'word'"),
        ({"facts.priors": "none,sentence"}, "'sentence' is neither 'none' nor one of config.conditions"),
        ({"languages": "fr,de"}, "must include en"),
        ({"finetune.optimizer.momentum": 0.9}, "unknown optimizer field 'momentum'"),
        ({"facts.batch_size": 0}, "config.facts.batch_size must be an integer >= 1"),
        ({"eval.variants": "en,half_fr"}, "unknown variant 'half_fr'"),
        ({"facts.parts": "wiki"}, "training parts must be some of"),
    ],
)
def test_bad_input(fields, message):
    with pytest.raises(XlingError, match=message):
        mlft.plan(small_config(**fields))


def test_misaligned_parallel_corpus_and_too_few_rows(tmp_path):
    bad = tmp_path / "p.jsonl"
    bad.write_text(json.dumps({"topic": "a", "en": "One.", "fr": "Un.", "de": "Eins.", "es": "Uno."}) + "\n")
    with pytest.raises(DataError, match=r"p.jsonl:1: the units do not align: no it text"):
        mlft.plan(small_config(**{"data.parallel": str(bad), "languages": "en,fr,de,es,it"}))
    p = mlft.plan(small_config())

    class Tok:  # a tokenizer of one token per word is enough for the row count
        pad_id, eos_id = 0, 1

        def encode(self, text):
            return [2 + (hash(w) % 50) for w in text.split()]

    c = small_config(**{"facts.batch_size": 500})
    with pytest.raises(DataError, match=r"the facts make \d+ rows, fewer than one step.s 500"):
        mlft.fact_rows(Tok(), p, c)
    rows = mlft.finetune_rows(Tok(), p, "sentence", small_config(**{"finetune.steps": 7}))
    assert len(rows) == 7 * 2 and all(len(r["tokens"]) == 64 for r in rows)

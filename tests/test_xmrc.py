"""xMRC end to end on the embedded models (runlocal config), resume, and bad input."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import with_fields

from xling.errors import DataError, XlingError
from xling.experiments import xmrc
from xling.inference.generation import generate
from xling.metrics.qa import best_scores, clean_answer
from xling.runtime import load_runtime, model_block

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "xmrc.py"
get_config = runpy.run_path(str(CONFIG))["get_config"]

FIELDS = {
    "model", "setting", "context_lang", "question_lang", "id", "context", "question", "prompt",
    "generation", "answer", "gold_answers", "em", "f1", "error_class", "answer_span", "template",
    "context_offset", "gold_spans",
}  # fmt: skip


def small_config(**fields):
    c = get_config("runlocal")
    c.num_questions = 3
    c.bootstrap = 50
    c.progress = False
    return with_fields(c, **fields)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("xmrc")
    summary = xmrc.run(small_config(), work)
    return work, summary


def read_results(work):
    return [json.loads(line) for line in (work / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_outputs_exist_and_parse(finished):
    work, summary = finished
    for name in ("config.json", "summary.json", "summary.md", "errors.png", "f1_by_language.png",
                 "f1_heatmap_gemma3-270m.png", "f1_heatmap_smollm2-135m-instruct.png"):  # fmt: skip
        assert (work / name).stat().st_size > 0, name
    records = read_results(work)
    # 2 models x (en-x: 2 pairs + x-x: 2 + en-en: 1) x 3 questions
    assert len(records) == 2 * 5 * 3
    assert json.loads((work / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["formats"] == {"gemma3-270m": "plain", "smollm2-135m-instruct": "chat"}
    for r in records:
        assert set(r) >= FIELDS, FIELDS - set(r)
        assert 0 <= r["em"] <= 1 and 0 <= r["f1"] <= 1
        assert r["answer"] == clean_answer(r["generation"])
        assert (r["em"], r["f1"]) == best_scores(r["answer"], r["gold_answers"], r["context_lang"])
        assert (r["error_class"] is None) == (r["em"] == 1.0)
        if r["answer_span"]:
            s, e = r["answer_span"]
            assert r["context"][s:e].lower() == r["answer"].lower()
        off = r["context_offset"]
        assert r["prompt"][off : off + len(r["context"])] == r["context"]
        for (s, e), gold in zip(r["gold_spans"], r["gold_answers"], strict=True):
            assert r["context"][s:e] == gold
        if r["setting"] == "en-x":  # English context and gold, question in x
            assert r["context_lang"] == "en" and r["question_lang"] != "en"
            assert r["gold_answers"][0] in r["context"]
    md = (work / "summary.md").read_text()
    assert "| gemma3-270m | en-x |" in md and "x-x / en-en" in md
    assert {r["lang"] for r in summary["ratios"]} == {"de", "zh"}


def test_recorded_prompt_reproduces_the_answer(finished):
    """Each recorded prompt, generated alone (no batch, no shared prefix), gives the same text."""
    work, _ = finished
    records = read_results(work)
    for model in ("gemma3-270m", "smollm2-135m-instruct"):
        rt = load_runtime(model_block(small_config(), model))
        mine = [r for r in records if r["model"] == model][::4]
        for r in mine:
            out = generate(
                rt.model, rt.tokenizer, [r["prompt"]], max_new_tokens=16, stop=["\n"],
                add_special_tokens=r["template"]["format"] == "plain",
            )  # fmt: skip
            assert out.texts[0] == r["generation"], (model, r["id"], r["setting"])


def test_resume_after_a_kill_loses_nothing(finished, tmp_path, monkeypatch):
    """A run stopped after 4 of its 6 units (their files and config.json kept, as a kill
    leaves them) recomputes only the other 2 and ends with the same results."""
    work, _ = finished
    kept = sorted((work / "units").glob("*.jsonl"))[:4]
    (tmp_path / "units").mkdir()
    for unit in kept:
        (tmp_path / "units" / unit.name).write_bytes(unit.read_bytes())
    (tmp_path / "units" / ".half.jsonl.partial").write_text("{")  # an interrupted atomic write
    (tmp_path / "config.json").write_bytes((work / "config.json").read_bytes())
    calls = []
    real = xmrc.run_unit
    monkeypatch.setattr(xmrc, "run_unit", lambda *a, **k: calls.append((a[1], a[2])) or real(*a, **k))
    xmrc.run(small_config(), tmp_path)
    assert len(calls) == 2
    assert not any(f"{m}__{s}.jsonl" in {u.name for u in kept} for m, s in calls)
    assert not (tmp_path / "units" / ".half.jsonl.partial").exists()
    assert (tmp_path / "results.jsonl").read_text() == (work / "results.jsonl").read_text()
    with pytest.raises(XlingError, match="holds results of a different config"):
        xmrc.run(small_config(**{"generation.max_new_tokens": 8}), tmp_path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"languages": "en,jp"}, "unknown language code 'jp'"),
        ({"languages": "en,fr"}, r"no XQuAD file for fr"),
        ({"settings": "en-x,y-y"}, "unknown setting 'y-y'"),
        ({"prompt.format": "chat"}, "prompt.format=chat but model gemma3-270m has no chat template"),
        ({"models": ""}, "config.models names no model"),
        ({"num_questions": -1}, "config.num_questions must be an integer >= 0"),
        ({"prompt.plain": "Q: {question}"}, "prompt.plain must contain {context}"),
    ],
)
def test_bad_input_is_one_line(fields, message):
    with pytest.raises(XlingError, match=message):
        xmrc.plan(small_config(**fields))


def test_an_id_missing_in_one_language(tmp_path):
    from xling.xmrc.settings import SHIPPED_XQUAD

    for lang in ("en", "de"):
        obj = json.loads((SHIPPED_XQUAD / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        if lang == "de":
            obj["data"][0]["paragraphs"][0]["qas"].pop()
        (tmp_path / f"xquad.{lang}.json").write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataError, match="question id xl-p01-q3 is in the en data but not in the de data"):
        xmrc.plan(small_config(**{"data.xquad": str(tmp_path), "languages": "en,de"}))


def test_cli_error_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "xling.main", "--config=experiments/xmrc.py:runlocal",
         f"--workdir={tmp_path}", "--config.settings=en-x,bogus"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown setting 'bogus' (known: en-x, x-x, en-en, x-en, matrix, or a pair such as de-zh)"
    ]

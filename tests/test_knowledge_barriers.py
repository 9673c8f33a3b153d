"""The knowledge-barrier experiment end to end on the embedded models, resume, bad input."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from conftest import with_fields

from xling.errors import DataError, XlingError
from xling.experiments import knowledge_barriers as kb

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "knowledge_barriers.py"
get_config = runpy.run_path(str(CONFIG))["get_config"]
FIELDS = {"model", "variant", "lang", "shots", "mitigation", "subject", "id", "prompt", "langs", "letter_probs",
          "pred", "answer", "correct"}  # fmt: skip


def small_config(**fields):
    c = get_config("runlocal")
    c.num_questions, c.bootstrap, c.progress = 2, 50, False
    c.data.subjects = "astronomy"
    c.scoring = "letter"
    return with_fields(c, **fields)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("kb")
    summary = kb.run(small_config(shots="0,5", demos="en,same"), work)
    return work, summary


def test_outputs_exist_and_parse(finished):
    work, _summary = finished
    for name in ("config.json", "summary.json", "summary.md", "accuracy_gemma3-270m.png",
                 "accuracy_smollm2-135m-instruct.png"):  # fmt: skip
        assert (work / name).stat().st_size > 0
    records = [json.loads(x) for x in (work / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    # 2 models x 3 variants x (0-shot + 5-shot en demos + 5-shot same demos) x 1 subject x 2 questions
    assert len(records) == 2 * 3 * 3 * 2
    for r in records:
        assert set(r) >= FIELDS
        assert (
            abs(sum(r["letter_probs"]) - 1) < 1e-5 and r["pred"] == "ABCD"[int(np.argmax(r["letter_probs"]))]
        )
        assert r["correct"] == (r["pred"] == r["answer"])
        assert r["prompt"].startswith("The following are multiple choice questions (with answers) about  ")
        assert r["prompt"].count("\nAnswer:") == 1 + r["shots"]
        if r["variant"] == "mixup":
            assert sorted(r["langs"]) == sorted(["en", "fr", "de", "es", "it"])
    same = [r for r in records if r["demos"] == "same" and r["variant"] == "full_fr" and r["shots"] == 5]
    assert same and all("\nA. " in r["prompt"] for r in same)
    assert "| gemma3-270m | mixup | 5 | same |" in (work / "summary.md").read_text()


def test_cloze_scores_are_each_options_loglik_per_character(tmp_path):
    """Cloze records: the four scores equal the option texts' log-likelihoods after the
    recorded prompt, scored one at a time without prefix sharing, per character."""
    from xling.inference.scoring import continuation_logprobs
    from xling.runtime import load_runtime, model_block

    config = small_config(models="gemma3-270m", variants="en,mixup", shots="0,5", scoring="cloze")
    kb.run(config, tmp_path)
    records = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2 * 2 * 2 and {r["scoring"] for r in records} == {"cloze"}
    assert "| gemma3-270m | mixup | 5 | en | none | cloze |" in (tmp_path / "summary.md").read_text()
    rt = load_runtime(model_block(config, "gemma3-270m"))
    for r in (records[0], records[-1]):  # en 0-shot and mixup 5-shot
        assert "\nA. " not in r["prompt"] and r["letter_probs"] is None and len(r["options"]) == 4
        for j, option in enumerate(r["options"]):
            (lp,) = continuation_logprobs(rt.model, rt.tokenizer, [([r["prompt"]], [" " + option])])[0]
            assert r["option_scores"][j] == pytest.approx(float(lp.sum()) / (len(option) + 1), abs=2e-4)
        assert r["pred"] == "ABCD"[int(np.argmax(r["option_scores"]))]


def test_resume_and_config_change(finished, tmp_path, monkeypatch):
    work, _ = finished
    calls = []
    real = kb.run_unit
    monkeypatch.setattr(kb, "run_unit", lambda *a, **k: calls.append(a[2].name) or real(*a, **k))
    config = small_config(shots="0,5", demos="en,same")
    for unit in (work / "units").glob("gemma3-270m__*"):  # a run killed after gemma's units
        (tmp_path / "units").mkdir(exist_ok=True)
        (tmp_path / "units" / unit.name).write_bytes(unit.read_bytes())
    (tmp_path / "config.json").write_bytes((work / "config.json").read_bytes())
    kb.run(config, tmp_path)
    assert len(calls) == 9  # only smollm2's units
    assert (tmp_path / "results.jsonl").read_text() == (work / "results.jsonl").read_text()
    with pytest.raises(XlingError, match="holds results of a different config"):
        kb.run(small_config(shots="0,5", demos="en,same", letter_token="space"), tmp_path)


def test_translate_then_answer_is_parsed(tmp_path):
    c = small_config(variants="mixup", shots="2", mitigations="translate", max_new_tokens=48,
                     models="smollm2-135m-instruct", num_questions=1)  # fmt: skip
    kb.run(c, tmp_path)
    records = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 1
    for r in records:
        assert r["prompt"].endswith(
            "Translate the question and options into English, and then answer.\nQuestion: "
        )
        assert r["parsed_by"] in ("letter", "text", None)
        assert (r["pred"] is None) == (r["parsed_by"] is None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"variants": "en,half_fr"}, "unknown variant 'half_fr'"),
        ({"mitigations": "pray"}, "unknown mitigation 'pray'"),
        ({"data.subjects": "astrology"}, "no subject 'astrology'"),
        ({"option_ids": "ABC"}, "option_ids must be 4 distinct characters"),
    ],
)
def test_bad_input(fields, message):
    with pytest.raises(XlingError, match=message):
        kb.plan(small_config(**fields))


def test_translated_answers_must_agree_with_english(tmp_path):
    from xling.data.mmlu import SHIPPED_MC

    mmmlu = tmp_path / "mmmlu"
    mmmlu.mkdir()
    for f in (SHIPPED_MC / "mmmlu").glob("*.csv"):
        text = f.read_text(encoding="utf-8")
        if f.name == "mmlu_FR_FR.csv":  # swap one answer letter in the French test file
            lines = text.splitlines(keepends=True)
            row = next(i for i, ln in enumerate(lines) if i and ",astronomy" in ln)
            head, _, tail = lines[row].rpartition(",astronomy")
            letter = head[-1]
            lines[row] = head[:-1] + ("A" if letter != "A" else "B") + ",astronomy" + tail
            text = "".join(lines)
        (mmmlu / f.name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="fr astronomy row 0: answer"):
        kb.plan(small_config(**{"data.mmmlu": str(mmmlu)}))

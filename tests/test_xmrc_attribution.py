"""The xMRC attribution experiment end to end (runlocal size, both embedded models), resume,
and bad input."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from conftest import with_fields

from xling.attribution import mechanism
from xling.errors import DataError
from xling.experiments import xmrc_attribution as xa

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "xmrc_attribution.py"
get_config = runpy.run_path(str(CONFIG))["get_config"]
MODELS = ("gemma3-270m", "smollm2-135m-instruct")


def small_config(**fields):
    c = get_config("runlocal")
    c.progress = c.xmrc.progress = False
    c.xmrc.languages, c.xmrc.settings, c.xmrc.num_questions = "en,de", "en-en,en-x", 2
    c.xmrc.generation.max_new_tokens = 8
    c.num_examples, c.bootstrap = 2, 50
    return with_fields(c, **fields)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("xa")
    return work, xa.run(small_config(), work)


def _records(work):
    return [json.loads(x) for x in (work / "results.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_outputs_and_records(finished):
    work, summary = finished
    for name in ("config.json", "summary.json", "summary.md", "xmrc/results.jsonl"):
        assert (work / name).stat().st_size > 0, name
    for m in MODELS:
        for t in ("first_token", "gold"):
            for kind in ("mrd_by_group", "relevance_by_layer"):
                assert (work / f"{kind}_{m}_{t}.png").stat().st_size > 0
    records = _records(work)
    assert len(records) == 2 * 2 * 2 * 2  # models x settings x targets x examples
    xmrc = {(r["model"], r["setting"], r["id"]): r for r in _records(work / "xmrc")}
    for r in records:
        src = xmrc[r["model"], r["setting"], r["id"]]
        n = len(r["groups"])
        assert len(r["mrd"]) == len(r["token_relevance"]) == n and len(r["layer_totals"]) >= 19
        assert set(r["groups"]) <= set(range(4)) and mechanism.GROUPS.index("answer") in r["groups"]
        assert all(-1 <= d < len(r["layer_totals"]) for d in r["mrd"])
        assert r["generated"] == {"answer": src["answer"], "em": src["em"], "f1": src["f1"]}
        s, e = r["oracle"]["span"]
        assert r["oracle"]["answer"] == src["context"][s:e].strip()
        # The last residual stream conserves the explained value (AttnLRP's final norm rule).
        assert r["layer_totals"][-1] == pytest.approx(r["explained"], rel=1e-3, abs=1e-3)
        if r["target"] == "gold":
            assert 0 < r["forced_share"] < 1
        else:
            assert r["value"] == r["explained"] and r["forced_share"] == 0
    md = (work / "summary.md").read_text()
    assert "| gemma3-270m | all | first_token | 4 |" in md and "Phasing stability" in md
    assert {c["target"] for c in summary["correlations"]} == {"first_token", "gold"}


@pytest.mark.slow
def test_first_token_target_is_the_generated_first_token(finished):
    """The explained id (the top token at the prompt's end) is the token xMRC generated first."""
    from xling.registry import load_tokenizer

    work, _ = finished
    xmrc = {(r["model"], r["setting"], r["id"]): r for r in _records(work / "xmrc")}
    for r in _records(work):
        if r["target"] != "first_token":
            continue
        gen = xmrc[r["model"], r["setting"], r["id"]]["generation"]
        first = load_tokenizer(r["model"]).decode(r["target_ids"])
        assert gen.startswith(first) or gen.lstrip().startswith(first.strip()), (first, gen)


@pytest.mark.slow
def test_rerun_keeps_finished_units(finished, monkeypatch):
    work, summary = finished

    def boom(*a, **k):
        raise AssertionError("a finished unit was recomputed")

    monkeypatch.setattr(xa, "run_unit", boom)
    again = xa.run(small_config(bootstrap=60), work)  # a report-only change
    assert [r["n"] for r in again["rows"]] == [r["n"] for r in summary["rows"]]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"records": "/nonexistent/xmrc"}, "no xMRC results at"),
        ({"targets": "last_token"}, "config.targets must name some of first_token, gold"),
        ({"rules": "lrp"}, "unknown rule set 'lrp'"),
        ({"num_examples": -1}, "num_examples must be an integer >= 0"),
    ],
)
def test_bad_input(fields, message, tmp_path):
    with pytest.raises((DataError, ValueError), match=message):
        xa.run(small_config(**fields), tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_records_that_are_not_xmrc_records(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps({"model": "m", "id": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"results.jsonl:1: not an xMRC record \(missing context"):
        xa.run(small_config(records=str(tmp_path)), tmp_path / "w")


def test_answer_span_outside_the_context_is_refused():
    rec = {"prompt": "C: abc\nQ: q?", "context": "abc", "question": "q?", "context_offset": 3}
    with pytest.raises(DataError, match=r"answer span 2\.\.9 is not in the context"):
        mechanism.PromptLayout.from_record(rec["prompt"], rec["context"], rec["question"], 3, (2, 9))
    assert np.all(mechanism.major_relevance_depth(np.zeros((3, 2))) == -1)

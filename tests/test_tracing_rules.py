"""Behaviour rules, exclusions, prompts and Score arithmetic on hand-made inputs."""

import numpy as np
import pytest

from xling.data.lexicon import Concept
from xling.errors import DataError
from xling.tracing import behaviour as bh
from xling.tracing.prompts import PromptSpec, clwtd_prompt, demo_sets, distractors, quoted_prompt

SRC, TGT = {11, 12}, {21}  # token sets: source word, target word


def test_primary_rule_peak_is_final_output_is_co_occurrence():
    ids = [1, 5, 6, 21]
    probs = [0.99, 0.2, 0.3, 0.6]  # layer 0 (embeddings) is ignored by default
    assert bh.primary_rule(ids, probs, SRC) == bh.CO_OCCURRENCE


def test_primary_rule_peak_is_source_token_is_co_occurrence():
    assert bh.primary_rule([1, 11, 6, 21], [0.1, 0.9, 0.3, 0.6], SRC) == bh.CO_OCCURRENCE


def test_primary_rule_intermediate_peak_is_pivot():
    assert bh.primary_rule([1, 5, 7, 21], [0.1, 0.2, 0.8, 0.6], SRC) == bh.PIVOT


def test_primary_rule_first_layer_and_eligibility():
    ids, probs = [7, 5, 21], [0.99, 0.2, 0.6]
    assert bh.primary_rule(ids, probs, SRC, first_layer=0) == bh.PIVOT  # layer 0's token 7 peaks
    assert bh.primary_rule(ids, probs, SRC, first_layer=1) == bh.CO_OCCURRENCE
    # Layer 1's token 5 is a quote (not eligible) despite a high probability.
    assert bh.primary_rule([1, 5, 21], [0.1, 0.9, 0.6], SRC, eligible=[True, False, True]) == bh.CO_OCCURRENCE
    assert (
        bh.primary_rule([1, 5, 21], [0.1, 0.9, 0.6], SRC, eligible=[False, False, False]) == bh.CO_OCCURRENCE
    )


def test_threshold_rule():
    # Token 7 at layer 2 with p >= 0.1, in neither set: pivot.
    assert bh.threshold_rule([1, 11, 7, 21], [0.1, 0.5, 0.1, 0.6], SRC, TGT) == bh.PIVOT
    # Below the threshold: co-occurrence.
    assert bh.threshold_rule([1, 11, 7, 21], [0.1, 0.5, 0.09, 0.6], SRC, TGT) == bh.CO_OCCURRENCE
    # Target token in the middle is not a pivot; the final layer never counts as intermediate.
    assert bh.threshold_rule([1, 21, 21, 9], [0.1, 0.5, 0.5, 0.9], SRC, TGT) == bh.CO_OCCURRENCE
    assert (
        bh.threshold_rule([1, 7, 21], [0.1, 0.5, 0.9], SRC, TGT, eligible=[True, False, True])
        == bh.CO_OCCURRENCE
    )


def test_classify_exclusions_and_errors():
    assert bh.classify([1, 7, 21], [0.1, 0.8, 0.6], SRC, TGT, excluded_reason="x") == bh.EXCLUDED
    assert bh.classify([1, 7, 21], [0.1, 0.8, 0.6], SRC, TGT, rule="threshold") == bh.PIVOT
    with pytest.raises(ValueError, match="unknown behaviour rule"):
        bh.classify([1, 7, 21], [0.1, 0.8, 0.6], SRC, TGT, rule="vibes")
    with pytest.raises(ValueError, match="first_layer"):
        bh.primary_rule([1, 2], [0.5, 0.5], SRC, first_layer=2)
    with pytest.raises(ValueError, match="must be equal"):
        bh.primary_rule([1, 2], [0.5], SRC)


def test_exclusion_reasons():
    assert bh.exclusion_reason(["▁chat"], ["▁cat"]) == ""
    assert bh.exclusion_reason(["g", "ant"], ["g", "love"]) == "source/target share tokens: g"
    assert bh.exclusion_reason(["a"], ["b"], tgt_set_error="no token for 'x'").startswith("no token set")


def test_word_like():
    assert bh.word_like("▁dog") and bh.word_like("狗") and bh.word_like("ไทย") and bh.word_like("كلب")
    assert not any(bh.word_like(t) for t in ['▁"', "\n", "▁", "", "<0xE7>", "<bos>", "123", None])


def _concepts(n, pos="noun"):
    return [Concept(f"c{i}", pos, {"en": [f"e{i}"], "fr": [f"f{i}"]}) for i in range(n)]


def test_demos_never_contain_the_test_concept_and_are_deterministic():
    pool = _concepts(8)
    spec = PromptSpec(num_demos=5, num_demo_sets=20, seed=3)
    for test in pool:
        sets = demo_sets(pool, test, spec, "fr", "en")
        assert len(sets) == 20 and all(len(s) == 5 and test not in s for s in sets)
        assert sets == demo_sets(pool, test, spec, "fr", "en")
    with pytest.raises(DataError, match="need 5 demonstration"):
        demo_sets(pool[:5], pool[0], spec, "fr", "en")


def test_distractors_same_pos_seeded():
    pool = _concepts(12)
    pool += [Concept(f"v{i}", "verb", {"en": [f"ve{i}"], "fr": [f"vf{i}"]}) for i in range(12)]
    d = distractors(pool, pool[0], "fr", 9, seed=1)
    assert len(d) == 9 and all(c.pos == "noun" and c.id != "c0" for c in d)
    assert d == distractors(pool, pool[0], "fr", 9, seed=1)
    with pytest.raises(DataError, match="need 12 distractors"):
        distractors(pool, pool[0], "fr", 12, seed=1)


def test_prompt_texts():
    demos = [Concept("dog", "noun", {"fr": ["chien"], "en": ["dog"]})]
    assert (
        quoted_prompt(demos, "chat", "fr", "en")
        == 'Français: "chien" - English: "dog"\nFrançais: "chat" - English: "'
    )
    assert clwtd_prompt(demos, "chat", "fr", "en") == (
        "Please translate words from French to English.\n\nFrench: chien\nEnglish: dog\n\nFrench: chat\nEnglish:"
    )


def test_score_arithmetic_by_hand(monkeypatch):
    """Score = exp(-mean_d nll[d, 0]) - mean_j exp(-mean_d nll[d, j])."""
    from xling.tracing import runner

    # 2 demo sets x 2 concepts x (1 + 2 distractors): one scoring call per demo set.
    per_set = iter(
        [
            [np.array([0.1, 1.0, 2.0]), np.array([1.0, 1.0, 1.0])],
            [np.array([0.3, 3.0, 2.0]), np.array([1.0, 1.0, 1.0])],
        ]
    )
    monkeypatch.setattr(runner, "mean_nll_groups", lambda model, tok, groups, **kw: next(per_set))
    pool = _concepts(10)
    out = runner.clwtd_scores(None, None, pool, pool[:2], "fr", "en", PromptSpec(num_demo_sets=2), 2)
    p = np.exp(-np.array([0.2, 2.0, 2.0]))
    assert out[0]["p_answer"] == pytest.approx(p[0])
    assert out[0]["score"] == pytest.approx(p[0] - (p[1] + p[2]) / 2)
    assert out[1]["score"] == pytest.approx(0.0) and out[1]["p_answer"] == pytest.approx(np.exp(-1.0))

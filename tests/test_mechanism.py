"""MRD, token groups, phasing stability and oracle spans on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from xling.attribution import mechanism as mech
from xling.errors import DataError

PROMPT = (
    "Read.\nContext: The cup was first held in 1936 by crews.\nQuestion: When was it first held?\nAnswer:"
)
CONTEXT = "The cup was first held in 1936 by crews."
QUESTION = "When was it first held?"


def _layout():
    span = (CONTEXT.index("1936"), CONTEXT.index("1936") + 4)
    return mech.PromptLayout.from_record(PROMPT, CONTEXT, QUESTION, PROMPT.index(CONTEXT), span)


def _offsets(text):
    """Whitespace tokens with their leading space, as SentencePiece / byte-level BPE give."""
    out, start = [(0, 0)], 0  # a BOS
    for word in text.replace("\n", " ").split(" "):
        end = start + len(word)
        out.append((max(start - 1, 0), end))
        start = end + 1
    return out


def test_mrd_by_hand():
    r = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, -1.0, 0.5, 0.0],
            [0.0, 9.0, 0.5, 0.0],
        ]
    )  # [L + 1 = 4, T = 4]
    # token 0: all at layer 0; token 1: 1/10 by layer 2, 10/10 by 3; token 2: 0.5/1 at 2 < 0.95;
    # token 3: no relevance at all.
    np.testing.assert_array_equal(mech.major_relevance_depth(r, 0.95), [0, 3, 3, -1])
    np.testing.assert_array_equal(mech.major_relevance_depth(r, 0.5), [0, 3, 2, -1])
    with pytest.raises(DataError, match=r"fraction must be in \(0, 1\]"):
        mech.major_relevance_depth(r, 0.0)


def test_token_groups_by_overlap():
    offsets = _offsets(PROMPT)
    groups = mech.token_groups(offsets, _layout())
    named = {PROMPT[a:b].strip(): mech.GROUPS[g] for (a, b), g in zip(offsets, groups, strict=True) if b > a}
    assert named["1936"] == "answer"
    assert named["cup"] == named["crews."] == "context"
    assert named["When"] == named["held?"] == "question"
    assert named["Read."] == named["Context:"] == "template"
    assert named["Answer:"] == "template" and mech.GROUPS[groups[0]] == "template"  # BOS


def test_layout_errors():
    with pytest.raises(DataError, match="not at character 3"):
        mech.PromptLayout.from_record(PROMPT, CONTEXT, QUESTION, 3, (0, 3))
    with pytest.raises(DataError, match="question does not occur"):
        mech.PromptLayout.from_record(PROMPT, CONTEXT, "Who?", PROMPT.index(CONTEXT), (0, 3))
    with pytest.raises(DataError, match=r"answer span 30\.\.99 is not in the context"):
        mech.PromptLayout.from_record(PROMPT, CONTEXT, QUESTION, PROMPT.index(CONTEXT), (30, 99))


def test_phasing_by_hand():
    groups = np.array([3, 0, 0, 1, 1, 2])  # template, question x2, answer x2, context
    mrd = np.array([0, 2, 4, 5, 7, -1])
    med = mech.group_medians(mrd, groups)
    assert med == {"question": 3.0, "answer": 6.0, "context": None, "template": 0.0}
    assert mech.phased(med) is True
    assert mech.phased({**med, "answer": 3.0}) is False  # a tie is not phased
    assert mech.phased({**med, "answer": None}) is None
    share, n = mech.phasing_stability([True, False, None, True, True])
    assert (share, n) == (0.75, 4)


def test_oracle_span_by_hand():
    offsets = _offsets(PROMPT)
    layout = _layout()
    groups = mech.token_groups(offsets, layout)
    rel = np.zeros(len(offsets))
    words = [PROMPT[a:b].strip() for a, b in offsets]
    rel[words.index("by")] = 3.0  # the best one-token window of the context
    rel[words.index("held")] = 2.0
    rel[words.index("When")] = 100.0  # question tokens are never candidates
    s, e = mech.oracle_span(rel, offsets, groups, layout)
    assert CONTEXT[s:e].strip() == "by"
    rel[words.index("1936")] = 5.0
    s, e = mech.oracle_span(rel, offsets, groups, layout)
    assert CONTEXT[s:e].strip() == "1936"

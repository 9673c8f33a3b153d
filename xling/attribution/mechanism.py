"""Where cross-lingual retrieval happens in the layers (Gao et al. 2025, "Mechanism"):
token groups of a reading-comprehension prompt, each token's major relevance depth, the
question-encoding and answer-retrieval phases, and oracle answers read off the relevance.

Definitions (xling's; the paper describes them in words, so each choice is explicit here):

- Token groups: every prompt token belongs to one of `GROUPS` by the characters it covers,
  tested in this order: "answer" (overlaps the gold answer's span in the context), "question"
  (overlaps the question), "context" (overlaps the rest of the context), "template"
  (everything else: instructions, field names, chat markup, BOS). Overlap, not containment,
  because a token may carry the space before a word or the punctuation after it.
- Major relevance depth (MRD) of a token, for relevance R[l] (l = 0 the embeddings, l = L
  the last layer): the first layer l at which sum_{j <= l} |R[j]| reaches `fraction` (0.95)
  of sum_j |R[j]|. A token with no relevance at all has MRD -1 and is left out.
- Phases: an example's question MRD and answer MRD are the medians over its question and
  answer-span tokens. Phasing stability of a set of examples is the share whose question MRD
  is smaller than its answer MRD (the question is encoded before the answer is retrieved);
  ties count as not phased.
- Oracle answer: among the context's token windows as long (in tokens) as the gold span,
  the one whose summed signed relevance at `layer` (default 0, the input tokens) is largest;
  its characters in the context are the oracle answer, scored with EM/F1 like a generation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from xling.errors import DataError

GROUPS = ("question", "answer", "context", "template")


@dataclasses.dataclass(frozen=True)
class PromptLayout:
    """Character ranges [start, end) in the prompt text."""

    context: tuple[int, int]
    question: tuple[int, int]
    answer: tuple[int, int]  # the gold span, inside the context

    @classmethod
    def from_record(cls, prompt: str, context: str, question: str, context_offset: int, span) -> PromptLayout:
        """From an xMRC record: the context at `context_offset`, the question found after
        it (or before, for templates that ask first), the gold span relative to the context."""
        if prompt[context_offset : context_offset + len(context)] != context:
            raise DataError(f"the context is not at character {context_offset} of the prompt")
        end = context_offset + len(context)
        q = prompt.find(question, end)
        if q < 0:
            q = prompt.rfind(question, 0, context_offset)
        if q < 0:
            raise DataError("the question does not occur in the prompt outside the context")
        start, stop = int(span[0]), int(span[1])
        if not 0 <= start < stop <= len(context):
            raise DataError(f"answer span {start}..{stop} is not in the context (length {len(context)})")
        return cls(
            (context_offset, end), (q, q + len(question)), (context_offset + start, context_offset + stop)
        )


def token_groups(offsets: Sequence[tuple[int, int]], layout: PromptLayout) -> np.ndarray:
    """[T] group index into GROUPS for each token, by overlap (see the module docstring;
    tokens covering no character, such as BOS, are template)."""
    out = np.full(len(offsets), GROUPS.index("template"), np.int8)
    for i, (a, b) in enumerate(offsets):
        if b <= a:
            continue
        for name, (lo, hi) in (
            ("answer", layout.answer),
            ("question", layout.question),
            ("context", layout.context),
        ):
            if a < hi and lo < b:
                out[i] = GROUPS.index(name)
                break
    return out


def major_relevance_depth(relevance: np.ndarray, fraction: float = 0.95) -> np.ndarray:
    """relevance [L + 1, T] -> [T] ints: the first layer where the cumulative |R| reaches
    `fraction` of the token's total |R|; -1 for a token with none."""
    if not 0 < fraction <= 1:
        raise DataError(f"the MRD fraction must be in (0, 1], got {fraction}")
    a = np.abs(np.asarray(relevance, np.float64))
    total = a.sum(0)
    cum = np.cumsum(a, axis=0)
    reached = cum >= fraction * total[None] * (1 - 1e-12)
    depth = np.argmax(reached, axis=0)
    return np.where(total > 0, depth, -1).astype(np.int32)


def group_medians(mrd: np.ndarray, groups: np.ndarray) -> dict[str, float | None]:
    """Median MRD of each group's tokens (None when the group has no token with relevance)."""
    out = {}
    for g, name in enumerate(GROUPS):
        vals = mrd[(groups == g) & (mrd >= 0)]
        out[name] = float(np.median(vals)) if vals.size else None
    return out


def phased(medians: dict[str, float | None]) -> bool | None:
    """Question MRD before answer MRD; None when either is missing."""
    q, a = medians.get("question"), medians.get("answer")
    if q is None or a is None:
        return None
    return q < a


def phasing_stability(flags: Sequence[bool | None]) -> tuple[float, int]:
    """(share phased, number of examples counted): examples with a missing phase are left out."""
    kept = [f for f in flags if f is not None]
    return (float(np.mean(kept)) if kept else float("nan")), len(kept)


def oracle_span(
    token_relevance: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    groups: np.ndarray,
    layout: PromptLayout,
) -> tuple[int, int]:
    """The oracle answer's character span in the context ([start, end), context-relative):
    the window of n consecutive context tokens (n = the gold span's token count) with the
    largest summed relevance; ties go to the earliest window."""
    in_context = np.flatnonzero(np.isin(groups, [GROUPS.index("answer"), GROUPS.index("context")]))
    n = int((groups == GROUPS.index("answer")).sum())
    if n == 0:
        raise DataError("the gold answer span covers no token of the prompt")
    if in_context.size < n:
        raise DataError("the context has fewer tokens than the gold span")
    r = np.asarray(token_relevance, np.float64)[in_context]
    sums = np.convolve(r, np.ones(n), mode="valid")  # window k covers in_context[k : k + n]
    k = int(np.argmax(sums))
    first, last = in_context[k], in_context[k + n - 1]
    lo, hi = layout.context
    start = max(offsets[first][0], lo) - lo
    end = min(offsets[last][1], hi) - lo
    return start, end

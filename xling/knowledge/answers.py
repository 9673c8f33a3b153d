"""Reading the chosen option out of a generated answer (translate-then-answer).

The reference code compares the whole generation with the letter, so any explanation makes
an answer wrong; xling parses, in this order, and says which rule fired:

  1. "letter"  the first "Answer: X" (or Antwort / Réponse / Respuesta / Risposta, any
               case, optional "is", brackets or a full stop), or a generation that is
               only a letter: X must be one of the option ids;
  2. "text"    otherwise the text after the first "Answer:" (or the first line) matched
               against the four options in every language given: exact after case-folding
               and trimming punctuation, else the most similar option by difflib ratio if
               >= 0.8 and clearly ahead (by 0.05) of the runner-up;
  3. None      unparseable: counted and reported, never scored as a guess.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from xling.metrics.answers import normalize_answer

_WORDS = r"(?:answer|antwort|r[ée]ponse|respuesta|risposta|correct answer|the answer)"


def _letter_pattern(ids: str) -> re.Pattern:
    opts = "".join(re.escape(c) for c in ids)
    # The words in any case, the option id exactly ("the answer is a planet" is not "A").
    return re.compile(rf"(?i:{_WORDS})\s*(?i:is|est|ist|es|è)?\s*[:：]?\s*[\(\[]?([{opts}])(?!\w)")


def parse_choice(
    generation: str, options: Mapping[str, Sequence[str]], ids: str = "ABCD"
) -> tuple[str | None, str | None]:
    """(option id or None, rule). options: {lang: the four option texts in that language}."""
    text = generation.strip()
    m = _letter_pattern(ids).search(text)
    if m:
        return m.group(1), "letter"
    bare = text.strip(" .()[]*")
    if len(bare) == 1 and bare in ids:
        return bare, "letter"
    after = re.split(rf"{_WORDS}\s*[:：]", text, maxsplit=1, flags=re.IGNORECASE)
    candidate = after[1] if len(after) > 1 else text
    candidate = next((ln for ln in candidate.splitlines() if ln.strip()), "")
    candidate = re.sub(rf"^\s*[\(\[]?[{re.escape(ids)}][\)\].:]\s+", "", candidate)
    target = normalize_answer(candidate)
    if not target:
        return None, None
    scores = []
    for texts in options.values():
        for j, option in enumerate(texts):
            norm = normalize_answer(option)
            if norm == target:
                return ids[j], "text"
            scores.append((difflib.SequenceMatcher(None, norm, target).ratio(), j))
    scores.sort(reverse=True)
    best = scores[0] if scores else (0.0, -1)
    runner_up = next((s for s, j in scores if j != best[1]), 0.0)
    if best[0] >= 0.8 and best[0] - runner_up >= 0.05:
        return ids[best[1]], "text"
    return None, None

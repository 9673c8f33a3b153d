"""Pre-training mixes of an exact token budget: pivot-aware selection and its two baselines.

Input: one row per document, {id, lang, tokens, pivot_proportion} (the scoring pipeline's
output; `tokens` counts the text's tokens without special tokens). A document costs
`tokens + per_document` tokens in training (BOS and EOS). A mix is a list of
`(doc id, tokens taken)`; the last document taken is cut so the mix holds exactly `budget`
tokens. Every draw is a function of (rows, budget, seed): the same inputs give the same mix.

- `pivot`: documents by pivot proportion, highest first (ties by a seeded hash of the id);
  documents shorter than `min_tokens` are left out (a three-token document of one pivot token
  would otherwise rank first).
- `original`: a seeded uniform sample without replacement: the corpus's own distribution.
- `multilingual`: up-sampling of the smaller languages. Language L gets the share
  n_L^alpha / sum_K n_K^alpha of the budget (n = its tokens; alpha < 1 flattens the
  distribution, as for mT5 and XLM-R; alpha = 0 is uniform over languages); within a language,
  documents in seeded order, repeated in the same order when the language runs out.
  Documents without a language are left out.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from xling.corpus.pivots import sample_key
from xling.errors import DataError

STRATEGIES = ("pivot", "original", "multilingual")


@dataclasses.dataclass(frozen=True)
class SelectionSpec:
    strategy: str = "pivot"
    budget: int = 0  # tokens
    seed: int = 0
    per_document: int = 2  # BOS + EOS
    min_tokens: int = 16  # for `pivot`
    alpha: float = 0.3  # for `multilingual`

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise DataError(f"unknown selection strategy {self.strategy!r} (known: {', '.join(STRATEGIES)})")
        if self.budget < 1:
            raise DataError(f"the selection budget must be >= 1 token, got {self.budget}")
        if not 0 <= self.alpha <= 1:
            raise DataError(f"selection.alpha must be in [0, 1], got {self.alpha}")


def select(rows: Sequence[Mapping], spec: SelectionSpec) -> list[tuple[str, int]]:
    """The mix: (doc id, tokens taken), in the order the documents were chosen."""
    if not rows:
        raise DataError("no documents to select from (an empty corpus?)")
    if spec.strategy == "multilingual":
        return _multilingual(rows, spec)
    if spec.strategy == "pivot":
        pool = [r for r in rows if r["tokens"] >= spec.min_tokens]
        order = sorted(pool, key=lambda r: (-r["pivot_proportion"], sample_key(spec.seed, r["id"])))
    else:
        order = sorted(rows, key=lambda r: sample_key(spec.seed, r["id"]))
    mix = _fill(order, spec.budget, spec.per_document, repeat=False)
    if mix is None:
        total = sum(r["tokens"] + spec.per_document for r in order)
        raise DataError(
            f"{spec.strategy}: the corpus has {total} eligible tokens, fewer than the budget {spec.budget}"
        )
    return mix


def _fill(order: Sequence[Mapping], budget: int, per_doc: int, *, repeat: bool) -> list | None:
    """Documents in `order` (again from the start with `repeat`) until `budget` tokens; None
    when they run out first."""
    mix, left = [], budget
    while order:
        for r in order:
            take = min(r["tokens"] + per_doc, left)
            mix.append((r["id"], take))
            left -= take
            if not left:
                return mix
        if not repeat:
            break
    return None


def language_budgets(tokens_by_lang: Mapping[str, int], budget: int, alpha: float) -> dict[str, int]:
    """Each language's share of the budget (largest remainder: they sum to `budget`)."""
    weights = {lang: n**alpha for lang, n in tokens_by_lang.items() if n > 0}
    if not weights:
        raise DataError("no document has a language (identify them first)")
    total = sum(weights.values())
    exact = {lang: budget * w / total for lang, w in weights.items()}
    out = {lang: int(v) for lang, v in exact.items()}
    for lang in sorted(exact, key=lambda k: (out[k] - exact[k], k))[: budget - sum(out.values())]:
        out[lang] += 1
    return out


def _multilingual(rows: Sequence[Mapping], spec: SelectionSpec) -> list[tuple[str, int]]:
    by_lang: dict[str, list] = defaultdict(list)
    for r in rows:
        if r.get("lang"):
            by_lang[r["lang"]].append(r)
    sizes = {lang: sum(r["tokens"] + spec.per_document for r in rs) for lang, rs in by_lang.items()}
    mix = []
    for lang, b in sorted(language_budgets(sizes, spec.budget, spec.alpha).items()):
        if b:
            order = sorted(by_lang[lang], key=lambda r: sample_key(spec.seed, r["id"]))
            mix += _fill(order, b, spec.per_document, repeat=True)
    return mix


def describe(mix: Sequence[tuple[str, int]], rows: Sequence[Mapping]) -> dict:
    """Tokens by language, documents, repeats and the token-weighted mean pivot proportion."""
    by_id = {r["id"]: r for r in rows}
    langs: Counter = Counter()
    pivot = 0.0
    for doc_id, n in mix:
        langs[by_id[doc_id].get("lang") or "und"] += n
        pivot += n * by_id[doc_id]["pivot_proportion"]
    total = sum(n for _, n in mix)
    uses = Counter(doc_id for doc_id, _ in mix)
    return {
        "tokens": total, "documents": len(uses), "repeated_documents": sum(c > 1 for c in uses.values()),
        "tokens_by_language": dict(sorted(langs.items())),
        "pivot_proportion": pivot / total if total else 0.0,
    }  # fmt: skip

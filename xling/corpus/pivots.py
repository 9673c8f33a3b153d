"""Semantic pivots in data (He et al. 2025): document frequencies around a word, `adj(t)`,
pivot candidates for a word pair, and a document's pivot proportion.

Definitions (every choice is a parameter; `xling.corpus.pivot_pipeline` computes the same
counts with Apache Beam, and `count_document_frequencies` here is the plain-Python reference):

1. A document *contains* a word by the matching rule of the co-occurrence counts
   (`xling.corpus.counts`, the whole document as one window): folded text, whole-token runs
   for spaced scripts, substrings for unspaced ones.
2. The documents *sampled* for a word are, of those containing it, the `sample` with the
   smallest `sample_key(seed, doc id)` (a keyed hash): a uniform random sample that any
   runner computes the same way, shard order and parallelism notwithstanding.
3. Tokens: the model's tokenizer (ids, no special tokens) or whitespace words (`"words"`:
   the folded word tokens of `xling.corpus.counts.tokenize`). A document's token *set* counts
   for document frequency; its token *sequence* for the pivot proportion.
4. `df_w(t)` = share of the sampled documents of w that contain t; `df_bg(t)` = share of
   all documents that contain t; `adj_w(t) = df_w(t) - df_bg(t)`.
5. Candidates for a pair (src, tgt): tokens with df > 0 around both words, ranked by
   `min(adj_src, adj_tgt)` (ties: by token, for a stable order), the top `k`.
6. A document's pivot proportion: the share of its tokens (with repetition) in a pivot set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from xling.corpus.counts import WindowCounter, iter_windows, normalize_word, tokenize
from xling.errors import DataError
from xling.metrics.answers import fold_text

WHOLE_DOCUMENT = 2**62  # a window longer than any document: word matching per document
Token = int | str


def sample_key(seed: int, doc_id: str) -> int:
    """The document's rank in every word's sample (smaller first)."""
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def word_tokens(text: str) -> list[str]:
    """Whitespace-word tokens: the folded word tokens of the co-occurrence counts."""
    return tokenize(fold_text(text))


class DocumentReader:
    """One document -> (its tokens, the words it contains); the per-document map step, shared
    by the Beam pipeline and the plain counter. `tokenize` is None for word tokens."""

    def __init__(self, words: Iterable[str], tokenize: Callable[[str], list[int]] | None = None):
        self.counter = WindowCounter(words, (), WHOLE_DOCUMENT)
        self.words = self.counter.words
        self._tokenize = tokenize or word_tokens

    def read(self, text: str) -> tuple[list[Token], set[str]]:
        found: set[str] = set()
        for tokens, window_text in iter_windows(text, WHOLE_DOCUMENT):
            found = self.counter.matches(tokens, window_text)
        return self._tokenize(text), found


@dataclasses.dataclass(frozen=True)
class WordSample:
    containing: int  # documents containing the word
    sampled: int  # of them, in the sample (min(containing, sample))
    df: Mapping[Token, int]  # token -> sampled documents containing it


@dataclasses.dataclass(frozen=True)
class DocumentFrequencies:
    """Background and per-word document frequencies of one corpus."""

    tokens: str  # "model" or "words"
    sample: int
    seed: int
    n_docs: int
    background: Mapping[Token, int]
    words: Mapping[str, WordSample]

    def adj(self, word: str) -> dict[Token, float]:
        """adj_w(t) for every token t seen around the word (empty when no document contains it)."""
        w = self.word(word)
        if not w.sampled:
            return {}
        return {t: c / w.sampled - self.background[t] / self.n_docs for t, c in w.df.items()}

    def word(self, word: str) -> WordSample:
        key = normalize_word(word)
        if key not in self.words:
            raise DataError(f"word {word!r} was not counted")
        return self.words[key]

    def to_json(self) -> str:
        def table(d: Mapping[Token, int]) -> list:
            return sorted([[t, c] for t, c in d.items()], key=lambda x: str(x[0]))

        return json.dumps({
            "tokens": self.tokens, "sample": self.sample, "seed": self.seed, "n_docs": self.n_docs,
            "background": table(self.background),
            "words": {w: {"containing": s.containing, "sampled": s.sampled, "df": table(s.df)}
                      for w, s in sorted(self.words.items())},
        }, ensure_ascii=False)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> DocumentFrequencies:
        o = json.loads(text)
        words = {w: WordSample(s["containing"], s["sampled"], {t: c for t, c in s["df"]})
                 for w, s in o["words"].items()}  # fmt: skip
        background = {t: c for t, c in o["background"]}
        return cls(o["tokens"], o["sample"], o["seed"], o["n_docs"], background, words)

    def save(self, path: str | Path) -> None:
        from xling.workdir import atomic_write

        atomic_write(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> DocumentFrequencies:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def count_document_frequencies(
    docs: Iterable[tuple[str, str]],
    words: Iterable[str],
    *,
    tokenize: Callable[[str], list[int]] | None = None,
    sample: int = 1000,
    seed: int = 0,
) -> DocumentFrequencies:
    """The straightforward single-process count over (doc id, text) pairs (the reference the
    Beam pipeline is checked against, and the benchmark's baseline)."""
    if sample < 1:
        raise DataError(f"sample must be >= 1 document per word, got {sample}")
    reader = DocumentReader(words, tokenize)
    background: Counter = Counter()
    around: dict[str, list[tuple[int, frozenset]]] = {w: [] for w in reader.words}
    n_docs = 0
    for doc_id, text in docs:
        tokens, found = reader.read(text)
        present = frozenset(tokens)
        n_docs += 1
        background.update(present)
        for w in found:
            around[w].append((sample_key(seed, doc_id), present))
    if not n_docs:
        raise DataError("the corpus has no documents")
    out = {}
    for w, docs_of_w in around.items():
        kept = sorted(docs_of_w, key=lambda x: x[0])[:sample]
        df: Counter = Counter()
        for _, present in kept:
            df.update(present)
        out[w] = WordSample(len(docs_of_w), len(kept), dict(df))
    kind = "words" if tokenize is None else "model"
    return DocumentFrequencies(kind, sample, seed, n_docs, dict(background), out)


@dataclasses.dataclass(frozen=True)
class Candidate:
    token: Token
    score: float  # min(adj_src, adj_tgt)
    adj_src: float
    adj_tgt: float
    df_src: float  # df around each word, and the background df, as shares
    df_tgt: float
    df_bg: float


def pivot_candidates(freqs: DocumentFrequencies, src: str, tgt: str, k: int = 100) -> list[Candidate]:
    """The top-k pivot candidates for a word pair (definition 5); [] when a word has no document."""
    a, b = freqs.adj(src), freqs.adj(tgt)
    ws, wt = freqs.word(src), freqs.word(tgt)
    shared = set(a) & set(b)
    rows = [
        Candidate(
            t,
            min(a[t], b[t]),
            a[t],
            b[t],
            ws.df[t] / ws.sampled,
            wt.df[t] / wt.sampled,
            freqs.background[t] / freqs.n_docs,
        )
        for t in shared
    ]
    rows.sort(key=lambda r: (-r.score, str(r.token)))
    return rows[:k]


def pivot_proportion(tokens: Sequence[Token], pivots: set | frozenset) -> float:
    """Share of a document's tokens (with repetition) in the pivot set (0 for no tokens)."""
    if not tokens:
        return 0.0
    return sum(t in pivots for t in tokens) / len(tokens)

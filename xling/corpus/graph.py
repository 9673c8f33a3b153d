"""The token co-occurrence graph of a corpus and the pivot set read from it (He et al. 2025:
"tokens that co-occur highly with many tokens").

Nodes: the tokens of at least `min_df` documents (with `word_tokens_only`, only tokens whose
text has a letter: punctuation, digits and byte pieces co-occur with everything and carry no
meaning). Each document's token sequence is cut into consecutive windows of `window` tokens;
the weight of an edge (t, u) is the number of windows holding both. A token's degree is the
number of tokens it shares an edge of weight >= `min_weight` with. The pivot set: the tokens
of degree >= `min_degree`, or, with `top` > 0, the `top` tokens of highest degree (ties by
total edge weight, then token).

The weights are a sparse symmetric matrix, built as X^T X from a binary window x token matrix
in chunks; `CombineWindows` is that build as a Beam combiner (partial sums per worker).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
import regex
import scipy.sparse as sp

_LETTER = regex.compile(r"\p{L}")
_CHUNK = 20_000  # windows per partial product


@dataclasses.dataclass(frozen=True)
class GraphSpec:
    window: int = 32
    min_df: int = 2
    min_weight: int = 2
    min_degree: int = 0
    top: int = 0
    word_tokens_only: bool = True

    def __post_init__(self):
        for name in ("window", "min_df", "min_weight"):
            if getattr(self, name) < 1:
                raise ValueError(f"graph.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_degree < 0 or self.top < 0:
            raise ValueError("graph.min_degree and graph.top must be >= 0")


def vocabulary(df: Mapping, spec: GraphSpec, decode: Callable | None = None) -> dict:
    """token -> node index, for the tokens the graph keeps (sorted, so indices are stable)."""

    def text(t):
        return decode(t) if decode is not None else str(t)

    keep = [
        t
        for t, c in df.items()
        if c >= spec.min_df and (not spec.word_tokens_only or _LETTER.search(text(t)))
    ]
    return {t: i for i, t in enumerate(sorted(keep, key=str))}


def windows_of(tokens: Sequence, window: int) -> list[list]:
    return [list(dict.fromkeys(tokens[i : i + window])) for i in range(0, len(tokens), window)]


def _product(rows: list[list[int]], n: int) -> sp.csr_matrix:
    lengths = [len(r) for r in rows]
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    cols = np.fromiter((c for r in rows for c in r), np.int64, int(indptr[-1]))
    x = sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr), shape=(len(rows), n))
    c = (x.T @ x).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    return c


class WeightBuilder:
    """Accumulates window token sets into the weight matrix (vocabulary tokens only)."""

    def __init__(self, vocab: Mapping):
        self.vocab = vocab
        self.weights = sp.csr_matrix((len(vocab), len(vocab)), dtype=np.float32)
        self._rows: list[list[int]] = []

    def add(self, windows: Iterable[Sequence]) -> None:
        for w in windows:
            ids = [self.vocab[t] for t in w if t in self.vocab]
            if len(ids) > 1:
                self._rows.append(ids)
        if len(self._rows) >= _CHUNK:
            self.flush()

    def flush(self) -> sp.csr_matrix:
        if self._rows:
            self.weights = self.weights + _product(self._rows, len(self.vocab))
            self._rows = []
        return self.weights


@dataclasses.dataclass
class CooccurrenceGraph:
    tokens: list  # node index -> token
    weights: sp.csr_matrix  # symmetric, zero diagonal; entries = windows holding both

    def degree(self, min_weight: int) -> np.ndarray:
        return np.asarray((self.weights >= min_weight).sum(axis=1)).ravel()

    def strength(self) -> np.ndarray:
        return np.asarray(self.weights.sum(axis=1)).ravel()

    def pivot_set(self, spec: GraphSpec) -> list:
        """The pivot tokens, highest degree first."""
        deg, strength = self.degree(spec.min_weight), self.strength()
        order = sorted(range(len(self.tokens)), key=lambda i: (-deg[i], -strength[i], str(self.tokens[i])))
        if spec.top:
            order = order[: spec.top]
        return [self.tokens[i] for i in order if deg[i] >= max(spec.min_degree, 1)]

    def save(self, path) -> None:
        import io

        from apache_beam.io.filesystems import FileSystems

        buf = io.BytesIO()
        w = self.weights.tocoo()
        np.savez_compressed(buf, row=w.row, col=w.col, data=w.data, n=len(self.tokens),
                            tokens=np.array([str(t) for t in self.tokens]),
                            ints=all(isinstance(t, int) for t in self.tokens))  # fmt: skip
        with FileSystems.create(str(path)) as f:
            f.write(buf.getvalue())

    @classmethod
    def load(cls, path) -> CooccurrenceGraph:
        with np.load(path) as z:
            n = int(z["n"])
            weights = sp.coo_matrix((z["data"], (z["row"], z["col"])), shape=(n, n)).tocsr()
            tokens = [int(t) if bool(z["ints"]) else str(t) for t in z["tokens"]]
        return cls(tokens, weights)


def build_graph(token_lists: Iterable[Sequence], spec: GraphSpec, vocab: Mapping) -> CooccurrenceGraph:
    """The graph of a corpus in one process (documents' token sequences)."""
    builder = WeightBuilder(vocab)
    for tokens in token_lists:
        builder.add(windows_of(tokens, spec.window))
    return CooccurrenceGraph(sorted(vocab, key=vocab.get), builder.flush())


class CombineWindows(beam.CombineFn):
    """Beam: PCollection of per-document window lists -> CooccurrenceGraph; the vocabulary
    comes as a side input (computed from the background document frequencies)."""

    def create_accumulator(self, vocab):
        return WeightBuilder(vocab)

    def add_input(self, acc, windows, vocab):
        acc.add(windows)
        return acc

    def merge_accumulators(self, accs, vocab):
        accs = list(accs)
        out = accs[0]
        out.flush()
        for a in accs[1:]:
            out.weights = out.weights + a.flush()
        return out

    def extract_output(self, acc, vocab):
        return CooccurrenceGraph(sorted(vocab, key=vocab.get), acc.flush())

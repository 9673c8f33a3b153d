"""Mixed-language text at document, sentence and 8-word-chunk granularity, by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xling.corpus.mixing import aligned_documents, mix_corpus, mix_document
from xling.errors import DataError

DOC = [
    {"en": "one two three four five six seven eight nine ten", "fr": "un deux trois quatre cinq six sept huit neuf dix",
     "de": "eins zwei drei vier fünf sechs sieben acht neun zehn"},
    {"en": "red blue", "fr": "rouge bleu", "de": "rot blau"},
]  # fmt: skip
LANGS = ("en", "fr", "de")


class Draws:
    """An rng whose integers() returns a fixed sequence of language indices."""

    def __init__(self, picks):
        self.picks = list(picks)

    def integers(self, n):
        return self.picks.pop(0)


def test_each_granularity_by_hand():
    text, langs = mix_document(DOC, "document", LANGS, Draws([1]))
    assert (text, langs) == ("un deux trois quatre cinq six sept huit neuf dix rouge bleu", ["fr"])
    text, langs = mix_document(DOC, "sentence", LANGS, Draws([2, 0]))
    assert text == "eins zwei drei vier fünf sechs sieben acht neun zehn red blue" and langs == ["de", "en"]
    # 10 English words: chunks [0, 8) and [8, 10); then the 2-word sentence is one chunk.
    text, langs = mix_document(DOC, "chunk", LANGS, Draws([1, 2, 0]))
    assert text == "un deux trois quatre cinq six sept huit neun zehn red blue" and langs == [
        "fr",
        "de",
        "en",
    ]


def test_chunks_follow_the_share_of_a_longer_translation():
    doc = [{"en": " ".join(f"e{i}" for i in range(16)), "fr": " ".join(f"f{i}" for i in range(20))}]
    text, _ = mix_document(doc, "chunk", ("en", "fr"), Draws([1, 0]))
    # Chunk 1 = English words 0-7 = the first 8/16 of the 20 French words (f0..f9).
    assert text.split() == [f"f{i}" for i in range(10)] + [f"e{i}" for i in range(8, 16)]


def test_seeded_and_deterministic():
    docs = [DOC] * 20
    a = mix_corpus(docs, "sentence", LANGS, seed=3)
    assert a == mix_corpus(docs, "sentence", LANGS, seed=3)
    assert a != mix_corpus(docs, "sentence", LANGS, seed=4)
    counts = np.unique(
        [lang for _, ls in mix_corpus(docs * 10, "chunk", LANGS, 0) for lang in ls], return_counts=True
    )
    assert set(counts[0]) == set(LANGS) and counts[1].min() > 0.25 * counts[1].sum()  # ~1/3 each


def test_corpus_that_does_not_align(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"id": "a", "doc": 1, "en": "x", "fr": "y", "de": "z"},
        {"id": "b", "doc": 1, "en": "x", "fr": "", "de": "z"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"p.jsonl:2: the units do not align: no fr text"):
        aligned_documents(path, "doc", LANGS)
    with pytest.raises(DataError, match="unknown granularity 'word'"):
        mix_document(DOC, "word", LANGS, Draws([0]))
    with pytest.raises(DataError, match="sentence 0: the units do not align: no it text"):
        mix_document(DOC, "sentence", ("en", "it"), Draws([0, 0]))


def test_shipped_parallel_sentences_load_as_documents():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "xling" / "data" / "parallel" / "sentences.jsonl"
    docs = aligned_documents(path, "topic")
    assert sum(map(len, docs)) == 110 and len(docs) > 5

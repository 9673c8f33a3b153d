"""Pivot mining (He et al. 2025): document frequencies and adj(t) against a brute-force count,
the ranking by hand, the Beam pipeline (DirectRunner, also multi-processing) against the plain
counter, the co-occurrence-graph pivot set, selection, language identification, bad input."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from xling.corpus import graph as graph_lib
from xling.corpus import pivots, selection
from xling.corpus.documents import identify_document, read_documents
from xling.errors import DataError

EN = [
    "the dog drinks water in the garden",
    "a dog and a cat sleep by the fire",
    "the cat drinks milk",
    "cold water in the river",
    "the dog runs to the river and drinks water",
]
FR = [
    "le chien boit de l'eau dans le jardin water",
    "un chien et un chat dorment près du feu",
    "le chat boit du lait",
    "l'eau froide de la rivière",
    "le chien court vers la rivière et boit de l'eau",
]


def write_corpus(tmp_path):
    with (tmp_path / "en.jsonl").open("w", encoding="utf-8") as f:
        for i, t in enumerate(EN):
            f.write(json.dumps({"id": f"en{i}", "text": t, "lang": "en"}) + "\n")
    with gzip.open(tmp_path / "fr.jsonl.gz", "wt", encoding="utf-8") as f:
        for i, t in enumerate(FR):
            f.write(json.dumps({"id": f"fr{i}", "text": t}) + "\n")
    return str(tmp_path / "*.jsonl*")


def brute_force(docs, word, sample, seed):
    """df and adj by the definition, counted the slowest obvious way."""

    def has_word(text):
        return word in text.split()

    n = len(docs)
    bg = Counter(t for _, text in docs for t in set(text.split()))
    containing = [(pivots.sample_key(seed, i), text) for i, text in docs if has_word(text)]
    kept = [text for _, text in sorted(containing)[:sample]]
    df = Counter(t for text in kept for t in set(text.split()))
    return {t: df[t] / len(kept) - bg[t] / n for t in df}, df, len(containing)


def docs_of(pattern):
    return [(d.id, d.text) for d in read_documents(pattern)]


@pytest.mark.parametrize("sample", [1, 2, 100])
def test_document_frequency_and_adj_match_a_brute_force_count(tmp_path, sample):
    docs = docs_of(write_corpus(tmp_path))
    freqs = pivots.count_document_frequencies(docs, ["dog", "chien", "water"], sample=sample, seed=3)
    for word in ("dog", "chien", "water"):
        adj, df, containing = brute_force([(i, t.replace("'", " ")) for i, t in docs], word, sample, 3)
        w = freqs.word(word)
        assert w.containing == containing and w.sampled == min(sample, containing)
        got = freqs.adj(word)
        # Word tokens fold "l'eau" into "l", "eau": the brute force splits on the apostrophe too.
        assert dict(w.df) == dict(df)
        assert got == pytest.approx(adj, abs=1e-12)


def test_pivot_ranking_by_hand():
    bg = {"a": 4, "b": 2, "c": 1, "d": 8}
    words = {
        "x": pivots.WordSample(2, 2, {"a": 2, "b": 1, "c": 1}),
        "y": pivots.WordSample(4, 4, {"a": 2, "b": 4, "d": 4}),
    }
    f = pivots.DocumentFrequencies("words", 10, 0, 8, bg, words)
    # adj_x: a 1-.5=.5, b .5-.25=.25, c .5-.125=.375; adj_y: a .5-.5=0, b 1-.25=.75, d 1-1=0
    got = pivots.pivot_candidates(f, "x", "y", k=5)
    assert [c.token for c in got] == ["b", "a"]  # c is not around y; d not around x
    assert [c.score for c in got] == pytest.approx([0.25, 0.0])
    assert pivots.pivot_candidates(f, "x", "y", k=1)[0].token == "b"
    assert pivots.pivot_proportion(["b", "z", "b", "a"], {"b"}) == 0.5
    assert pivots.pivot_proportion([], {"b"}) == 0.0


def test_frequencies_round_trip_through_json(tmp_path):
    docs = docs_of(write_corpus(tmp_path))
    f = pivots.count_document_frequencies(docs, ["dog"], tokenize=lambda t: [len(w) for w in t.split()])
    f.save(tmp_path / "f.json")
    assert pivots.DocumentFrequencies.load(tmp_path / "f.json") == f


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_beam_pipeline_equals_the_plain_counter(tmp_path, workers):
    from xling.corpus import pivot_pipeline

    pattern = write_corpus(tmp_path)
    spec = graph_lib.GraphSpec(window=4, min_df=1, min_weight=1)
    got, graph = pivot_pipeline.mine(pattern, ["dog", "chien", "eau"], tokenizer=None, sample=2, seed=1,
                                     graph=spec, pipeline_options=pivot_pipeline.options(workers))  # fmt: skip
    want = pivots.count_document_frequencies(docs_of(pattern), ["dog", "chien", "eau"], sample=2, seed=1)
    assert got == want
    tokens = [pivots.word_tokens(t) for _, t in docs_of(pattern)]
    ref = graph_lib.build_graph(tokens, spec, graph_lib.vocabulary(want.background, spec))
    assert graph.tokens == ref.tokens
    assert (graph.weights != ref.weights).nnz == 0


def test_graph_pivot_set_on_a_toy_graph():
    tokens = ["a", "b", "c", "d", "e"]
    w = np.zeros((5, 5), np.float32)
    for i, j, x in [(0, 1, 5), (0, 2, 5), (0, 3, 1), (1, 2, 3), (3, 4, 2)]:
        w[i, j] = w[j, i] = x
    g = graph_lib.CooccurrenceGraph(tokens, sp.csr_matrix(w))
    # min_weight 2: degrees a 2 (b, c), b 2, c 2, d 1 (e), e 1
    assert list(g.degree(2)) == [2, 2, 2, 1, 1]
    spec = graph_lib.GraphSpec(min_weight=2, min_degree=2)
    assert g.pivot_set(spec) == ["a", "b", "c"]  # ties by strength: a 11, c 8, b 8 -> b before c by token
    assert g.pivot_set(graph_lib.GraphSpec(min_weight=2, top=1)) == ["a"]
    assert g.pivot_set(graph_lib.GraphSpec(min_weight=6)) == []
    # the windowed build of a corpus: a window holding a and b twice gives weight 2
    vocab = {"a": 0, "b": 1, "c": 2}
    built = graph_lib.build_graph([["a", "b", "c", "a", "b", "x"]], graph_lib.GraphSpec(window=3), vocab)
    assert built.weights.toarray().tolist() == [[0, 2, 1], [2, 0, 1], [1, 1, 0]]


def test_graph_vocabulary_keeps_frequent_word_tokens():
    spec = graph_lib.GraphSpec(min_df=2)
    assert graph_lib.vocabulary({"dog": 3, ",": 9, "cat": 1, "猫": 2}, spec) == {"dog": 0, "猫": 1}


ROWS = [
    {"id": f"d{i}", "lang": lang, "tokens": n, "pivot_proportion": p}
    for i, (lang, n, p) in enumerate(
        [
            ("en", 40, 0.1),
            ("en", 30, 0.5),
            ("fr", 20, 0.9),
            ("fr", 10, 0.95),
            ("zh", 50, 0.3),
            ("en", 60, 0.2),
        ]
    )
]


@pytest.mark.parametrize("strategy", selection.STRATEGIES)
@pytest.mark.parametrize("budget", [1, 37, 100, 150])
def test_selection_is_deterministic_and_exact(strategy, budget):
    spec = selection.SelectionSpec(strategy=strategy, budget=budget, seed=4, min_tokens=16)
    mix = selection.select(ROWS, spec)
    assert sum(n for _, n in mix) == budget
    assert mix == selection.select(list(reversed(ROWS)), spec)  # input order does not matter
    sizes = {r["id"]: r["tokens"] + 2 for r in ROWS}
    assert all(0 < n <= sizes[i] for i, n in mix)


def test_pivot_selection_takes_the_richest_long_documents_first():
    mix = selection.select(ROWS, selection.SelectionSpec(strategy="pivot", budget=60, min_tokens=16))
    # d3 (0.95) is shorter than min_tokens; d2 (0.9, 22 tokens) then d1 (0.5, 32) then d4 cut to 6
    assert mix == [("d2", 22), ("d1", 32), ("d4", 6)]


def test_multilingual_upsamples_small_languages():
    budgets = selection.language_budgets({"en": 1000, "fr": 10}, 100, 0.3)
    assert sum(budgets.values()) == 100
    assert budgets["fr"] / 100 > 10 / 1010  # up-sampled
    assert selection.language_budgets({"en": 1000, "fr": 10}, 100, 0.0) == {"en": 50, "fr": 50}
    mix = selection.select(ROWS, selection.SelectionSpec(strategy="multilingual", budget=300, alpha=0.0))
    d = selection.describe(mix, ROWS)
    assert d["tokens_by_language"] == {"en": 100, "fr": 100, "zh": 100}
    assert d["repeated_documents"] >= 1  # zh has 52 tokens: its one document twice


def test_selection_errors():
    with pytest.raises(DataError, match="fewer than the budget"):
        selection.select(ROWS, selection.SelectionSpec(strategy="original", budget=10_000))
    with pytest.raises(DataError, match="unknown selection strategy"):
        selection.SelectionSpec(strategy="best", budget=1)
    with pytest.raises(DataError, match="empty corpus"):
        selection.select([], selection.SelectionSpec(budget=1))


@pytest.mark.parametrize(
    "text, lang",
    [
        ("The weather is lovely today and we are going to walk along the river.", "en"),
        ("Il fait très beau aujourd'hui et nous allons nous promener le long de la rivière.", "fr"),
        ("今天天气很好，我们要沿着河边散步。", "zh"),
        ("今日はとても良い天気なので、川沿いを散歩します。", "ja"),
        ("Сегодня прекрасная погода, и мы пойдём гулять вдоль реки.", "ru"),
        ("الطقس جميل اليوم وسنمشي على طول النهر.", "ar"),
        ("आज मौसम बहुत अच्छा है और हम नदी के किनारे टहलने जाएंगे।", "hi"),
        ("Heute ist das Wetter schön, und wir gehen am Fluss spazieren, sagt 東京.", "de"),
    ],
)
def test_language_identification_of_short_documents_in_six_scripts(text, lang):
    candidates = ["en", "fr", "de", "es", "it", "zh", "ja", "ru", "ar", "hi"]
    assert identify_document(text, candidates) == lang


def test_documents_without_a_language_are_identified(tmp_path):
    docs = list(read_documents(write_corpus(tmp_path), languages=["en", "fr"]))
    assert {d.lang for d in docs if d.id.startswith("en")} == {"en"}  # the field is trusted
    assert [d.lang for d in docs if d.id.startswith("fr")].count("fr") >= 4
    assert {d.source for d in docs} == {"en.jsonl", "fr.jsonl.gz"}


def test_bad_corpus_input(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON"):
        list(read_documents(str(tmp_path / "bad.jsonl")))
    (tmp_path / "notext.jsonl").write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"notext\.jsonl:1: no string 'text' field"):
        list(read_documents(str(tmp_path / "notext.jsonl")))
    (tmp_path / "twice.jsonl").write_text(
        '{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', encoding="utf-8"
    )
    with pytest.raises(DataError, match="appears twice"):
        list(read_documents(str(tmp_path / "twice.jsonl")))
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no documents"):
        pivots.count_document_frequencies(docs_of(str(tmp_path / "empty.jsonl")), ["dog"])


@pytest.mark.slow
def test_beam_pipeline_bad_input(tmp_path):
    from xling.corpus import pivot_pipeline

    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no documents"):
        pivot_pipeline.mine(str(tmp_path / "empty.jsonl"), ["dog"], tokenizer=None)
    (tmp_path / "bad.jsonl").write_text('{"text": "a dog"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"bad\.jsonl:2: expected a JSON object"):
        pivot_pipeline.mine(str(tmp_path / "bad.jsonl"), ["dog"], tokenizer=None)
    (tmp_path / "ok.jsonl").write_text('{"text": "a dog"}\n', encoding="utf-8")
    freqs, _ = pivot_pipeline.mine(str(tmp_path / "ok.jsonl"), ["dog", "chien"], tokenizer=None)
    assert freqs.word("chien").containing == 0 and freqs.adj("chien") == {}
    assert pivots.pivot_candidates(freqs, "dog", "chien") == []

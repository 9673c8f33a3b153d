"""SQuAD / XQuAD / MLQA loaders on small files made here, and the shipped parallel set."""

from __future__ import annotations

import json
import unicodedata

import pytest

from xling.data.squad import align, load_mlqa, load_squad, load_xquad, mlqa_pairs, xquad_languages
from xling.errors import DataError
from xling.xmrc.settings import SHIPPED_XQUAD, QAData, select_ids, setting_pairs

XQUAD_LANGS = ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi", "ro")


def squad(paragraphs: list[tuple[str, list[tuple[str, str, str]]]], shift: int = 0) -> dict:
    """A SQuAD v1.1 object: [(context, [(id, question, answer)])]; answer_start found (+ shift)."""
    data = []
    for k, (context, qas) in enumerate(paragraphs):
        items = [
            {"id": qid, "question": q, "answers": [{"text": a, "answer_start": context.index(a) + shift}]}
            for qid, q, a in qas
        ]
        data.append({"title": f"t{k}", "paragraphs": [{"context": context, "qas": items}]})
    return {"version": "1.1", "data": data}


EN = [
    (
        "Anna lives in Oslo. She was born in 1990.",
        [("q1", "Where does Anna live?", "Oslo"), ("q2", "Born?", "1990")],
    ),
    ("The river is 40 km long.", [("q3", "How long is the river?", "40 km")]),
]
DE = [
    (
        "Anna wohnt in Oslo. Sie wurde 1990 geboren.",
        [("q1", "Wo wohnt Anna?", "Oslo"), ("q2", "Geboren?", "1990")],
    ),
    ("Der Fluss ist 40 km lang.", [("q3", "Wie lang ist der Fluss?", "40 km")]),
]


def write(path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


def test_squad_file_parses_with_spans(tmp_path):
    write(tmp_path / "s.json", squad(EN))
    examples = load_squad(tmp_path / "s.json", lang="en")
    assert [e.id for e in examples] == ["q1", "q2", "q3"]
    e = examples[0]
    assert (e.title, e.question, e.lang) == ("t0", "Where does Anna live?", "en")
    assert e.context[e.answers[0].start : e.answers[0].end] == "Oslo"


def test_xquad_directory_is_aligned_by_id(tmp_path):
    write(tmp_path / "xquad.en.json", squad(EN))
    write(tmp_path / "xquad.de.json", squad(DE))
    (tmp_path / "README.md").write_text("not data")
    assert xquad_languages(tmp_path) == ["de", "en"]
    by_lang = load_xquad(tmp_path, ["en", "de"])
    assert align(by_lang) == ["q1", "q2", "q3"]
    assert by_lang["de"][2].answers[0].text == "40 km"
    data = QAData.open(str(tmp_path), languages=["en", "de"])
    pair = data.pair("en", "de")  # English context, German question, English gold
    assert pair[0].question == "Wo wohnt Anna?" and pair[0].context.startswith("Anna lives")
    assert pair[0].answers[0].text == "Oslo"


def test_span_that_does_not_match_answer_start(tmp_path):
    write(tmp_path / "s.json", squad(EN, shift=1))
    with pytest.raises(
        DataError,
        match=r"question q1: answer 'Oslo' does not match the context at answer_start=15 \(the text occurs at 14\)",
    ):
        load_squad(tmp_path / "s.json")


def test_misaligned_ids(tmp_path):
    write(tmp_path / "xquad.en.json", squad(EN))
    write(tmp_path / "xquad.de.json", squad([DE[0], (DE[1][0], [("q9", "Wie lang?", "40 km")])]))
    with pytest.raises(DataError, match="question id q9 is in the de data but not in the en data"):
        load_xquad(tmp_path)


def test_missing_language_and_bad_files(tmp_path):
    write(tmp_path / "xquad.en.json", squad(EN))
    with pytest.raises(DataError, match=r"no XQuAD file for de \(have: en\)"):
        load_xquad(tmp_path, ["en", "de"])
    with pytest.raises(DataError, match="unknown language code"):
        load_xquad(tmp_path, ["en", "jp"])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not a SQuAD JSON file"):
        load_squad(tmp_path / "bad.json")
    write(tmp_path / "dup.json", squad([EN[0], (EN[1][0], [("q1", "again?", "40 km")])]))
    with pytest.raises(DataError, match="question q1: id appears twice"):
        load_squad(tmp_path / "dup.json")
    write(tmp_path / "nofield.json", {"data": [{"paragraphs": [{"qas": []}]}]})
    with pytest.raises(DataError, match="missing field 'context'"):
        load_squad(tmp_path / "nofield.json")


def test_mlqa_layout(tmp_path):
    root = tmp_path / "MLQA_V1" / "test"
    root.mkdir(parents=True)
    write(root / "test-context-en-question-de.json", squad([(EN[0][0], [("m1", "Wo wohnt Anna?", "Oslo")])]))
    write(root / "test-context-de-question-de.json", squad([(DE[0][0], [("m1", "Wo wohnt Anna?", "Oslo")])]))
    assert mlqa_pairs(tmp_path / "MLQA_V1") == [("de", "de"), ("en", "de")]
    got = load_mlqa(tmp_path / "MLQA_V1", [("en", "de")])
    assert got["en", "de"][0].context.startswith("Anna lives") and got["en", "de"][0].lang == "en"
    with pytest.raises(DataError, match="no MLQA test file for context-question pair"):
        load_mlqa(tmp_path / "MLQA_V1", [("de", "en")])
    data = QAData.open(mlqa=str(tmp_path / "MLQA_V1"), languages=["en", "de"])
    assert data.pair("en", "de")[0].question == "Wo wohnt Anna?"
    with pytest.raises(DataError, match=r"set one of data\.xquad and data\.mlqa"):
        QAData.open("x", str(tmp_path))


def test_settings_and_subsets():
    langs = ["en", "de", "zh"]
    assert setting_pairs("en-x", langs) == [("en", "de"), ("en", "zh")]
    assert setting_pairs("x-x", langs) == [("de", "de"), ("zh", "zh")]
    assert setting_pairs("en-en", langs) == [("en", "en")]
    assert len(setting_pairs("matrix", langs)) == 9
    assert setting_pairs("de-zh", langs) == [("de", "zh")]
    with pytest.raises(DataError, match="unknown setting 'x-y-z'"):
        setting_pairs("x-y-z", langs)
    with pytest.raises(DataError, match="setting de-ru: ru is not among the languages"):
        setting_pairs("de-ru", langs)
    with pytest.raises(DataError, match="needs English"):
        setting_pairs("en-x", ["de", "zh"])
    ids = [f"q{i}" for i in range(50)]
    picked = select_ids(ids, 10, seed=0)
    assert len(picked) == 10 and picked == select_ids(list(reversed(ids)), 10, seed=0)
    assert picked != select_ids(ids, 10, seed=1)
    assert select_ids(ids, 0, 0) == set(ids)


def test_shipped_set_is_complete_and_parallel():
    """The set written for xling: every XQuAD language, >= 24 paragraphs with >= 3 questions
    each, the same ids everywhere, every answer an exact span (checked by the loader), found
    once in its context, not contained in its question, NFC text without stray whitespace."""
    assert xquad_languages(SHIPPED_XQUAD) == sorted(XQUAD_LANGS)
    by_lang = load_xquad(SHIPPED_XQUAD)
    ids = align(by_lang)
    contexts = {e.context for e in by_lang["en"]}
    assert len(contexts) >= 24 and len(ids) >= 3 * len(contexts)
    for lang, examples in by_lang.items():
        assert len({e.context for e in examples}) == len(contexts), lang
        for e in examples:
            answer = e.answers[0].text
            where = f"{lang} {e.id}"
            assert len(e.answers) == 1 and answer.strip() == answer and answer, where
            assert e.context.count(answer) == 1, where
            assert answer not in e.question, where
            for text in (e.context, e.question, answer):
                assert unicodedata.normalize("NFC", text) == text, where
                assert "\n" not in text and "  " not in text, where
    # Parallel paragraphs: the same question ids per paragraph in every language.
    groups = {lang: [tuple(e.id for e in ex if e.context == c) for c in dict.fromkeys(e.context for e in ex)]
              for lang, ex in by_lang.items()}  # fmt: skip
    assert all(g == groups["en"] for g in groups.values())


def test_subsets_take_whole_paragraphs():
    ids = [f"p{p}-q{q}" for p in range(10) for q in range(3)]
    paragraphs = [i.split("-")[0] for i in ids]
    picked = select_ids(ids, 7, seed=0, paragraphs=paragraphs)
    assert len(picked) == 7
    counts = sorted(sum(1 for i in picked if i.startswith(p + "-")) for p in set(paragraphs))
    assert counts[-3:] == [1, 3, 3] and sum(counts) == 7  # two whole paragraphs and one cut

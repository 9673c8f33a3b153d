"""Knowledge barriers: variants by hand, the prompt, letter tokens, the answer parser,
accuracy arithmetic."""

from __future__ import annotations

import pytest

from xling.data.mmlu import MCItem
from xling.errors import DataError
from xling.knowledge.answers import parse_choice
from xling.knowledge.prompts import build_cloze_prompt, build_prompt, header, letter_tokens
from xling.knowledge.report import summarize
from xling.knowledge.variants import build_variant, parse_variant, variant_names

LANGS = ("en", "fr", "de", "es", "it")


def item(lang: str, k: int, answer: str) -> MCItem:
    return MCItem(f"astro-t{k}", "astronomy", "test", f"Q{k}-{lang}",
                  tuple(f"{o}{k}-{lang}" for o in "abcd"), answer, lang)  # fmt: skip


@pytest.fixture
def data():
    answers = ["B", "D"]
    english = {"astronomy": [item("en", k, a) for k, a in enumerate(answers)]}
    translated = {
        lang: {"astronomy": [item(lang, k, a) for k, a in enumerate(answers)]} for lang in LANGS[1:]
    }
    return english, translated


def test_variants_by_hand(data):
    english, translated = data
    full = build_variant("full_de", english, translated)["astronomy"][0]
    assert full.question == "Q0-de" and full.choices == ("a0-de", "b0-de", "c0-de", "d0-de")
    assert full.langs == ("de",) * 5 and full.answer == "B"
    q = build_variant("question_fr", english, translated)["astronomy"][1]
    assert q.question == "Q1-fr" and q.choices == ("a1-en", "b1-en", "c1-en", "d1-en")
    o = build_variant("options_it", english, translated)["astronomy"][0]
    assert o.question == "Q0-en" and o.langs == ("en", "it", "it", "it", "it")
    gt = build_variant("gt_es", english, translated)["astronomy"]
    assert gt[0].choices == ("a0-en", "b0-es", "c0-en", "d0-en")  # answer B
    assert gt[1].choices == ("a1-en", "b1-en", "c1-en", "d1-es")  # answer D
    gq = build_variant("gt_question_es", english, translated)["astronomy"][0]
    assert gq.question == "Q0-es" and gq.langs == ("es", "en", "es", "en", "en")
    three = build_variant("threewrong_fr", english, translated)["astronomy"][0]
    assert three.langs == ("en", "fr", "en", "fr", "fr")
    # onewrong: one random.Random(42) stream over subjects, then (fr, de, es, it), then rows:
    # the draws are fr: 3, 0; de: 0, 2; es: 2, 0; it: 0, 0 (wrong option index per row).
    expected = {"fr": (3, 0), "de": (0, 2), "es": (2, 0), "it": (0, 0)}
    for lang, (w0, w1) in expected.items():
        rows = build_variant(f"onewrong_{lang}", english, translated)["astronomy"]
        assert [j for j in range(4) if rows[0].langs[j + 1] == lang] == [w0]
        assert [j for j in range(4) if rows[1].langs[j + 1] == lang] == [w1]


def test_mixup_languages_under_seed_42(data):
    """random.seed(42), the list reset per subject and shuffled in place per question:
    question 0 -> [es, fr, de, it, en], question 1 -> [it, de, es, en, fr]."""
    english, translated = data
    rows = build_variant("mixup", english, translated)["astronomy"]
    assert rows[0].langs == ("es", "fr", "de", "it", "en")
    assert rows[0].question == "Q0-es" and rows[0].choices == ("a0-fr", "b0-de", "c0-it", "d0-en")
    assert rows[1].langs == ("it", "de", "es", "en", "fr")
    assert rows[1].choices == ("a1-de", "b1-es", "c1-en", "d1-fr")
    assert rows[0].answer == "B" and rows[1].answer == "D"
    assert build_variant("mixup", english, translated) == build_variant("mixup", english, translated)


def test_unknown_variant_and_missing_translation(data):
    english, translated = data
    with pytest.raises(DataError, match="unknown variant 'full_xx'"):
        parse_variant("full_xx")
    with pytest.raises(DataError, match="unknown variant 'half_fr'"):
        parse_variant("half_fr")
    with pytest.raises(DataError, match="needs the de translation"):
        build_variant("full_de", english, {"fr": translated["fr"]})
    assert len(variant_names()) == 2 + 7 * 4


def test_reference_prompt(data):
    english, translated = data
    it = build_variant("en", english, translated)["astronomy"]
    assert header("high_school_biology") == (
        "The following are multiple choice questions (with answers) about  high school biology.\n\n"
    )
    prompt = build_prompt(it[1], demos=[it[0]], mitigation="instruct1")
    assert prompt == (
        "The following are multiple choice questions (with answers) about  astronomy. Remember that the "
        "question and options can be in different languages.\n\n"
        "Q0-en\nA. a0-en\nB. b0-en\nC. c0-en\nD. d0-en\nAnswer: B\n\n"
        "Q1-en\nA. a1-en\nB. b1-en\nC. c1-en\nD. d1-en\nAnswer:"
    )
    assert build_prompt(it[0], ids="1234").endswith("\n1. a0-en\n2. b0-en\n3. c0-en\n4. d0-en\nAnswer:")


def test_cloze_prompt(data):
    english, translated = data
    it = build_variant("en", english, translated)["astronomy"]
    assert build_cloze_prompt(it[1], demos=[it[0]]) == (
        "The following are multiple choice questions (with answers) about  astronomy.\n\n"
        "Q0-en\nAnswer: b0-en\n\n"
        "Q1-en\nAnswer:"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "reference", "space"),
    [("gemma3-270m", ("A", "B", "C", "D"), ("▁A", "▁B", "▁C", "▁D")),  # SentencePiece, no dummy prefix
     ("smollm2-135m-instruct", ("A", "B", "C", "D"), ("ĠA", "ĠB", "ĠC", "ĠD"))],  # byte-level BPE
)  # fmt: skip
def test_letter_tokens_decode_to_the_letters(model, reference, space):
    from xling.registry import load_tokenizer

    tok = load_tokenizer(model)
    for rule, pieces in (("reference", reference), ("space", space)):
        got = letter_tokens(tok, "ABCD", rule)
        assert got.pieces == pieces
        assert [tok.decode([i]).strip() for i in got.ids] == list("ABCD")


def test_letter_that_is_not_one_token():
    import tokenizers

    from xling.tokenizer import Tokenizer

    model = tokenizers.models.WordLevel({"A": 0, "B": 1, "C": 2, "<unk>": 3}, unk_token="<unk>")
    inner = tokenizers.Tokenizer(model)
    inner.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tok = Tokenizer(inner, bos_id=None, eos_id=None, pad_id=3)  # "D" is only the unknown token
    assert letter_tokens(tok, "ABC").pieces == ("A", "B", "C")
    with pytest.raises(DataError, match="no single token for answer letter 'D'"):
        letter_tokens(tok, "ABCD")


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("Question: Which planet is red?\nA. Mars\nB. Venus\nAnswer: A\n\nQuestion: next", ("A", "letter")),
        ("Réponse : C", ("C", "letter")),
        ("Die Antwort ist (B).", ("B", "letter")),
        ("La respuesta es D", ("D", "letter")),
        ("Risposta: Venere", ("B", "text")),  # the Italian option text
        ("Answer: Vénus.", ("B", "text")),  # French option, after "Answer:"
        ("Antwort: Jupyter", ("C", "text")),  # fuzzy (difflib ratio >= 0.8)
        ("the answer is a planet", (None, None)),  # "a" is not the letter A
        ("I am not sure.", (None, None)),
        ("B", ("B", "letter")),
    ],
)
def test_answer_parser_in_five_languages(generation, expected):
    options = {
        "en": ["Mars", "Venus", "Jupiter", "Mercury"],
        "fr": ["Mars", "Vénus", "Jupiter", "Mercure"],
        "de": ["Mars", "Venus", "Jupiter", "Merkur"],
        "es": ["Marte", "Venus", "Júpiter", "Mercurio"],
        "it": ["Marte", "Venere", "Giove", "Mercurio"],
    }
    assert parse_choice(generation, options) == expected


def test_pooled_and_per_subject_accuracy():
    """Pooled accuracy is over all questions (3/5 = 0.6), not the mean of subject accuracies
    ((2/4 + 1/1) / 2 = 0.75)."""

    def rec(subject, k, correct, variant="en"):
        return {"model": "m", "variant": variant, "lang": variant, "shots": 0, "demos": "en", "mitigation": "none",
                "option_ids": "ABCD", "subject": subject, "id": f"{subject}{k}", "correct": correct,
                "pred": "A"}  # fmt: skip

    records = [
        rec("a", 0, True),
        rec("a", 1, True),
        rec("a", 2, False),
        rec("a", 3, False),
        rec("b", 0, True),
    ]
    records += [rec("a", 0, False, "mixup"), rec("a", 1, True, "mixup"), rec("a", 2, False, "mixup"),
                rec("a", 3, False, "mixup"), rec("b", 0, False, "mixup")]  # fmt: skip
    rows = {r["variant"]: r for r in summarize(records, n_resamples=200)["rows"]}
    assert rows["en"]["accuracy"][0] == pytest.approx(0.6)
    assert (
        rows["en"]["subjects"]["a"]["accuracy"][0] == 0.5
        and rows["en"]["subjects"]["b"]["accuracy"][0] == 1.0
    )
    assert rows["mixup"]["accuracy"][0] == pytest.approx(0.2)
    assert rows["mixup"]["drop_from_en"][0] == pytest.approx(-0.4)

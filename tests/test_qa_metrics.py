"""MLQA-style QA normalisation, EM and F1 (xling.metrics.qa), with hand-computed expectations
and a literal transcription of the MLQA reference (mlqa_evaluation_v1.py) for its 7 languages."""

from __future__ import annotations

import random
import re
import string
import sys
import unicodedata
from collections import Counter

import pytest

from xling.errors import DataError
from xling.metrics.qa import (
    PUNCT,
    SUPPORTED,
    best_scores,
    clean_answer,
    exact_match,
    f1,
    mixed_segmentation,
    normalize_qa,
    qa_tokens,
)

# --- the MLQA reference, transcribed --------------------------------------------------------

REF_PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}.union(
    string.punctuation
)
REF_WHITESPACE_LANGS = ["en", "es", "hi", "vi", "de", "ar"]
REF_MIXED_SEGMENTATION_LANGS = ["zh"]


def ref_mixed_segmentation(text):
    segs_out, temp_str = [], ""
    for char in text:
        if re.search(r"[\u4e00-\u9fa5]", char) or char in REF_PUNCT:
            if temp_str != "":
                segs_out.extend(temp_str.split())
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(temp_str.split())
    return segs_out


def ref_normalize_answer(s, lang):
    def remove_articles(text):
        patterns = {
            "en": r"\b(a|an|the)\b",
            "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
            "vi": r"\b(của|là|cái|chiếc|những)\b",
            "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
            "ar": r"\sال^|ال",
        }
        return re.sub(patterns[lang], " ", text) if lang in patterns else text

    def white_space_fix(text):
        if lang in REF_WHITESPACE_LANGS:
            tokens = text.split()
        elif lang in REF_MIXED_SEGMENTATION_LANGS:
            tokens = ref_mixed_segmentation(text)
        else:
            raise ValueError(lang)
        return " ".join(t for t in tokens if t.strip() != "")

    def remove_punc(text):
        return "".join(ch for ch in text if ch not in REF_PUNCT)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def ref_f1(prediction, ground_truth, lang):
    pred = ref_normalize_answer(prediction, lang).split()
    gold = ref_normalize_answer(ground_truth, lang).split()
    num_same = sum((Counter(pred) & Counter(gold)).values())
    if num_same == 0:
        return 0
    p, r = num_same / len(pred), num_same / len(gold)
    return (2 * p * r) / (p + r)


# Fragments joined at random by SEPARATORS; "|" separates fragments.
FRAGMENTS = {
    "en": "The|a|an|University|of|Halbrook|theatre|Anne's|1898|A.D.|the-end|«quoted»",
    "es": "la|Las|el|Universidad|de|Salamanca|¿Qué?|¡sí!|unos|año|1898|ellas",
    "de": "Der|die|das|Rhein|eines|Kölner|„Dom“|einer|Denkmal|dem|des|1898",
    "vi": "của|Là|cái|chiếc|những|Việt|Nam|thủ|đô|làm|1898|“Hà Nội”",
    "ar": "الكتاب|مال|جامعة|القاهرة|،|؟|1898|في|الـ|«الأزهر»|ال|سال",
    "hi": "भारत|की|राजधानी|नई|दिल्ली|।|हिन्दी|1898|गंगा|(नदी)|क्षेत्र|॥",
    "zh": "北京|大学|1898年|，|清华|University|。|《红楼梦》|的|New York|㐀|鿿",
}
SEPARATORS = [" ", "  ", "\t", "\n", "", "-", ", ", "! "]


def varied_strings(lang: str, n: int = 30) -> list[str]:
    rng = random.Random(f"mlqa-{lang}")
    out = []
    for _ in range(n):
        parts = rng.choices(FRAGMENTS[lang].split("|"), k=rng.randint(1, 5))
        text = parts[0]
        for part in parts[1:]:
            text += rng.choice(SEPARATORS) + part
        out.append(text.upper() if rng.random() < 0.2 else text)
    return out


@pytest.mark.parametrize("lang", ["en", "es", "de", "vi", "ar", "hi", "zh"])
def test_matches_mlqa_reference(lang):
    texts = varied_strings(lang)
    for text in texts:
        assert normalize_qa(text, lang) == ref_normalize_answer(text, lang), text
    for pred, gold in zip(texts, texts[1:] + texts[:1], strict=True):
        assert f1(pred, gold, lang) == pytest.approx(ref_f1(pred, gold, lang)), (pred, gold)
        expected_em = float(ref_normalize_answer(pred, lang) == ref_normalize_answer(gold, lang))
        assert exact_match(pred, gold, lang) == expected_em
        assert exact_match(pred, pred, lang) == 1.0


def test_punct_set_matches_reference():
    assert REF_PUNCT == PUNCT
    assert {"$", "+", "^", "|", "«", "»", "。", "¿", "、"} <= PUNCT
    assert "€" not in PUNCT  # a symbol (Sc) outside ASCII string.punctuation


def test_supported_languages():
    expected = {"ar", "de", "el", "en", "es", "fr", "hi", "it", "ja", "ro", "ru", "th", "tr", "vi", "zh"}
    assert set(SUPPORTED) == expected


# --- per script, hand-computed ---------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, pred, gold, tokens",
    [
        ("en", "the University of Halbrook", "University of Halbrook", ["university", "of", "halbrook"]),
        ("en", "An Apple a day", "apple day", ["apple", "day"]),
        ("es", "la Universidad de Salamanca", "Universidad de Salamanca", ["universidad", "de", "salamanca"]),
        ("de", "Der Rhein und die Mosel", "Rhein und Mosel", ["rhein", "und", "mosel"]),
        ("ro", "un oraș mare", "oraș mare", ["oraș", "mare"]),
        ("vi", "những cái bàn của tôi", "bàn tôi", ["bàn", "tôi"]),
        ("el", "ΤΗΣ Ελλάδας", "ελλάδας", ["ελλάδας"]),  # Σ -> final ς by lower()
        ("el", "το Σπίτι της Ελλάδας", "σπίτι ελλάδας", ["σπίτι", "ελλάδας"]),
        ("ru", "МОСКВА Сити", "москва сити", ["москва", "сити"]),
        ("ar", "الكتاب", "كتاب", ["كتاب"]),
        ("hi", "भारत की राजधानी।", "भारत की राजधानी", ["भारत", "की", "राजधानी"]),
        ("zh", "北京大学", "北京 大学", ["北", "京", "大", "学"]),
        ("th", "กรุงเทพ", "กรุง เทพ", ["ก", "ร", "ุ", "ง", "เ", "ท", "พ"]),
        ("ja", "東京タワー", "東京 タワー", ["東", "京", "タ", "ワ", "ー"]),
    ],
)
def test_tokens_and_exact_match_per_script(lang, pred, gold, tokens):
    assert qa_tokens(pred, lang) == tokens
    assert qa_tokens(gold, lang) == tokens
    assert exact_match(pred, gold, lang) == 1.0
    assert f1(pred, gold, lang) == 1.0


def test_article_only_at_word_boundaries():
    assert qa_tokens("theatre another", "en") == ["theatre", "another"]
    assert qa_tokens("ellas la", "es") == ["ellas"]
    assert qa_tokens("làm là", "vi") == ["làm"]
    assert qa_tokens("Denkmal dem", "de") == ["denkmal"]
    assert qa_tokens("oare o", "ro") == ["oare"]


def test_romanian_definite_suffix_stays():
    assert qa_tokens("Orașul", "ro") == ["orașul"]
    assert exact_match("orașul", "oraș", "ro") == 0.0


def test_greek_no_accent_stripping():
    assert qa_tokens("ΕΛΛΑΔΑ", "el") == ["ελλαδα"]
    assert exact_match("Ελλάδα", "ΕΛΛΑΔΑ", "el") == 0.0  # ά != α
    assert qa_tokens("ή", "el") == ["ή"]  # "or", not the article η


def test_arabic_al_removed_anywhere():
    # MLQA's quirk: the letters ال go wherever they occur, replaced by a space.
    assert qa_tokens("مال", "ar") == ["م"]
    assert qa_tokens("جامعة القاهرة", "ar") == ["جامعة", "قاهرة"]


def test_devanagari_keeps_matras_and_virama():
    assert qa_tokens("हिन्दी क्षेत्र", "hi") == ["हिन्दी", "क्षेत्र"]
    assert qa_tokens("गंगा॥", "hi") == ["गंगा"]


def test_chinese_mixed_segmentation():
    assert qa_tokens("1898年", "zh") == ["1898", "年"]
    assert qa_tokens("清华University 大学", "zh") == ["清", "华", "university", "大", "学"]
    assert qa_tokens("㐀㐁", "zh") == ["㐀㐁"]  # Extension A is outside MLQA's U+4E00-U+9FA5
    assert mixed_segmentation("我爱 New York!") == ["我", "爱", "New", "York", "!"]


@pytest.mark.parametrize(
    "lang, pred, gold",
    [
        ("en", "Paris.", "Paris"),
        ("de", "„Kreuter“", "Kreuter"),
        ("fr", "«Kreuter»", "Kreuter"),
        ("zh", "北京。", "北京"),
        ("es", "¿Salamanca?", "Salamanca"),
        ("en", "$100!", "100"),
        ("ar", "القاهرة؟", "القاهرة"),
    ],
)
def test_punctuation_only_difference(lang, pred, gold):
    assert exact_match(pred, gold, lang) == 1.0


def test_symbol_outside_punct_is_kept():
    assert qa_tokens("€100", "en") == ["€100"]


def test_partial_overlap_f1():
    # pred [university, of, halbrook, library], gold [university, of, halbrook]: P=3/4, R=1 -> F1=6/7
    assert f1("University of Halbrook library", "the University of Halbrook", "en") == pytest.approx(6 / 7)
    # P=1/1, R=1/3 -> F1=2*(1/3)/(4/3)=0.5
    assert f1("Halbrook", "University of Halbrook", "en") == pytest.approx(0.5)
    # zh: pred [北,京,大,学], gold [北,京]: P=2/4, R=1 -> F1=2/3
    assert f1("北京大学", "北京", "zh") == pytest.approx(2 / 3)
    # multiset: pred [paris, paris], gold [paris]: same=1, P=1/2, R=1 -> F1=2/3
    assert f1("Paris Paris", "Paris", "en") == pytest.approx(2 / 3)
    # ru: pred [город, москва], gold [москва, сити, центр]: P=1/2, R=1/3 -> F1=(1/3)/(5/6)=0.4
    assert f1("город Москва", "Москва Сити центр", "ru") == pytest.approx(0.4)
    # th: pred [ก,ร,ุ,ง], gold [ก,ร,ุ,ง,เ,ท,พ]: P=1, R=4/7 -> F1=(8/7)/(11/7)=8/11
    assert f1("กรุง", "กรุงเทพ", "th") == pytest.approx(8 / 11)
    assert f1("Lyon", "Paris", "en") == 0.0


def test_empty_prediction_scores_zero():
    assert f1("", "Paris", "en") == 0.0
    assert exact_match("", "Paris", "en") == 0.0
    assert f1("?!", "Paris", "en") == 0.0
    assert best_scores("", ["Paris", "Lyon"], "en") == (0.0, 0.0)
    # MLQA: two empty answers are an exact match but share no token, so F1 = 0
    assert exact_match("", "the", "en") == 1.0
    assert f1("", "the", "en") == 0.0


def test_best_scores_max_over_golds():
    # vs "University of Halbrook": P=2/2, R=2/3 -> 0.8; vs "the Halbrook": P=1/2, R=1 -> 2/3
    em, score = best_scores("Halbrook University", ["University of Halbrook", "the Halbrook"], "en")
    assert em == 0.0
    assert score == pytest.approx(0.8)
    assert best_scores("Halbrook", ["University of Halbrook", "the Halbrook"], "en") == (1.0, 1.0)


def test_unsupported_language_raises():
    for call in (
        lambda: qa_tokens("Paris", "xx"),
        lambda: normalize_qa("Paris", "xx"),
        lambda: exact_match("Paris", "Paris", "xx"),
        lambda: f1("Paris", "Paris", "xx"),
        lambda: best_scores("Paris", ["Paris"], "xx"),
    ):
        with pytest.raises(DataError):
            call()


def test_gold_answers_must_be_a_non_empty_sequence():
    with pytest.raises(DataError):
        best_scores("Paris", "Paris", "en")
    with pytest.raises(DataError):
        best_scores("Paris", [], "en")


def test_french_italian_elided_article():
    # qa.py docstring: "fr, it the free-standing articles (elided l' is split off by punctuation
    # removal)". Deleting the apostrophe joins l to the word instead ("luniversité").
    assert qa_tokens("l'Université de Paris", "fr") == ["université", "de", "paris"]
    assert qa_tokens("l’anno", "it") == ["anno"]


def test_french_free_standing_article():
    assert qa_tokens("Le Chat des Alpes", "fr") == ["chat", "alpes"]


# --- clean_answer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "generation, answer",
    [
        ("Answer: Paris", "Paris"),
        ("**Answer:** 1688", "1688"),
        ("«Kreuter».", "Kreuter"),
        ('Answer: "Kreuter".', "Kreuter"),
        ("答案：北京", "北京"),
        ("Antwort: Berlin", "Berlin"),
        ("Ответ: Москва", "Москва"),
        ("\n\n  Paris  \nbecause the text says so.", "Paris"),
        ("Paris.", "Paris"),
        ("北京。", "北京"),
        ('"Paris', '"Paris'),  # only one end is a quote: kept
        ("Paris'", "Paris'"),
        ("'t Hooft", "'t Hooft"),
        ("「東京」", "東京"),
        ("", ""),
        ("   \n  ", ""),
    ],
)
def test_clean_answer(generation, answer):
    assert clean_answer(generation) == answer

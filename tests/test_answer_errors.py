"""The rule-based answer-error taxonomy (xling.metrics.answer_errors) and script-first language
identification (xling.metrics.langid), on hand-made answers."""

from __future__ import annotations

from collections import Counter

import pytest

from xling.errors import DataError
from xling.metrics.answer_errors import (
    ERROR_CLASSES,
    REFUSALS,
    classify_error,
    gibberish_reason,
    is_empty,
    is_refusal,
    is_wrong_language,
)
from xling.metrics.langid import identify, letter_scripts, script_fits

RO_CONTEXT = "Biblioteca județeană din Cluj a fost fondată în 1688 de Ioana Popescu."
EN_CONTEXT = "Anne Kreuter studied at the Universidad de Salamanca and later moved to Москва."


def test_error_classes():
    assert set(ERROR_CLASSES) == {"content", "wrong_language", "gibberish", "refusal", "empty"}
    assert {"en", "de", "ru", "zh", "ar", "es", "vi", "hi"} <= set(REFUSALS)


# --- empty -----------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["", "  ", "?!", "«»", " ... \n", "§§§ ¤¤ ¶¶"])
def test_empty(answer):
    assert is_empty(answer)
    assert classify_error(answer, "en") == "empty"


@pytest.mark.parametrize("answer", ["a", "7", "北", "?7"])
def test_not_empty(answer):
    assert not is_empty(answer)


# --- refusal ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know",
        "I DO NOT KNOW.",
        "Sorry, the text does not say.",
        "Ich weiß nicht",
        "Leider nicht erwähnt",
        "Не знаю",
        "К сожалению, не указано",
        "我不知道",
        "文中未提及",
        "لا أعرف",
        "Lo siento, no sé",
        "Tôi không biết",
        "मुझे नहीं पता",
        "Nu știu",
        "ไม่ทราบ",
    ],
)
def test_refusal(answer):
    assert is_refusal(answer)
    assert classify_error(answer, "en") == "refusal"


def test_refusal_in_wrong_language_is_still_refusal():
    assert classify_error("Не знаю", "en") == "refusal"  # Cyrillic for English
    assert classify_error("我不知道", "de", candidates=("en",)) == "refusal"
    assert classify_error("Ich weiß nicht", "ro", context=RO_CONTEXT, candidates=("de", "en")) == "refusal"


@pytest.mark.parametrize("answer", ["Sorrybrook", "Leiderdorp", "Halbrook", "Unableton"])
def test_refusal_phrase_needs_word_boundaries(answer):
    assert not is_refusal(answer)


def test_refusal_with_typographic_apostrophe():
    # Models write U+2019 in "don’t" as often as ASCII '; NFKC does not map it to '.
    assert is_refusal("I don’t know")
    assert is_refusal("I can’t answer that")


# --- gibberish -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("aaaaaaa", "char_run"),
        ("Paris!!!!!", "char_run"),
        ("abcabcabcabc", "unit_run"),  # "abc" x4 covers 12/12 >= half
        ("the the the the", "unit_run"),  # "the " x3 = 12 of 15 chars: unit_run is checked first
        ("cat dog cat dog", "repeated_words"),  # 4 words, 2 distinct: 2*2 <= 4
        ("©©© ¤¤ ®®", "junk_chars"),  # 7/7 symbols
        ("Paris ©®™", "junk_chars"),  # 3/8 = 0.375 > 0.3
    ],
)
def test_gibberish_rules(answer, reason):
    assert gibberish_reason(answer) == reason


def test_gibberish_class_when_not_empty():
    for answer in ("aaaaaaa", "abcabcabcabc", "the the the the", "cat dog cat dog", "Paris ©®™"):
        assert classify_error(answer, "en") == "gibberish", answer


@pytest.mark.parametrize(
    "answer",
    [
        "10000",
        "1000000",
        "Mississippi",
        "Baden-Baden",
        "Walla Walla",
        "Paris ©",  # 1/6 junk
        "§§§ ¤¤ ¶¶",  # § and ¶ are Unicode punctuation (Po): junk is ¤¤ only, 2/7 <= 0.3
        "the University of Halbrook",
        "北京大学",
    ],
)
def test_not_gibberish(answer):
    assert gibberish_reason(answer) is None


@pytest.mark.parametrize("answer", ["1,000,000,000", "1 000 000 000", "1.000.000.000"])
def test_numbers_with_thousands_separators_not_gibberish(answer):
    # _UNIT_RUN's \D start is meant to spare numbers, but ",000" x3 still matches.
    assert gibberish_reason(answer) is None
    assert classify_error(answer, "en") == "content"


# --- wrong language --------------------------------------------------------------------------


def test_spanish_for_romanian_context_by_lingua():
    answer = "la biblioteca pública de la ciudad"
    assert script_fits(answer, "ro")  # right script: lingua has to decide
    assert is_wrong_language(answer, "ro", RO_CONTEXT, ("en", "es"))
    assert classify_error(answer, "ro", context=RO_CONTEXT, candidates=("en", "es")) == "wrong_language"


def test_cyrillic_for_english_by_script():
    assert not script_fits("Москва", "en")
    assert classify_error("Москва", "en") == "wrong_language"


def test_chinese_for_english_by_script():
    assert classify_error("北京大学", "en", context="Anne studied in Beijing.") == "wrong_language"


def test_name_copied_from_context_is_not_wrong_language():
    # Without the context lingua calls it Spanish; found in the context, it is the context's.
    assert classify_error("Universidad de Salamanca", "en", candidates=("es",)) == "wrong_language"
    assert (
        classify_error("Universidad de Salamanca", "en", context=EN_CONTEXT, candidates=("es",)) == "content"
    )
    assert classify_error("ANNE KREUTER", "en", context=EN_CONTEXT, candidates=("de",)) == "content"
    assert classify_error("Москва", "en", context=EN_CONTEXT) == "content"  # context beats script
    assert classify_error("Ioana Popescu", "ro", context=RO_CONTEXT, candidates=("en", "es")) == "content"


def test_number_is_not_wrong_language():
    assert not is_wrong_language("1688", "ru", "", ("en",))
    assert classify_error("1688", "zh", candidates=("en",)) == "content"


def test_romanian_for_romanian_context():
    answer = "biblioteca publică a orașului"
    assert not is_wrong_language(answer, "ro", RO_CONTEXT, ("en", "es"))
    assert classify_error(answer, "ro", context=RO_CONTEXT, candidates=("en", "es")) == "content"


def test_content_otherwise():
    assert classify_error("the University of Halbrook", "en", candidates=("de", "es")) == "content"
    assert classify_error("北京大学", "zh") == "content"
    assert classify_error("Москва", "ru", candidates=("en",)) == "content"


# --- classify_error order --------------------------------------------------------------------


def test_classify_order():
    assert gibberish_reason("sorry sorry sorry sorry") is not None
    assert classify_error("sorry sorry sorry sorry", "en") == "refusal"  # refusal before gibberish
    assert classify_error("Не знаю", "en") == "refusal"  # refusal before wrong_language
    assert classify_error("aaaaaaa", "ru") == "gibberish"  # gibberish before wrong_language (Latin)
    assert classify_error("???", "en") == "empty"  # empty before gibberish's char_run


# --- identify and scripts --------------------------------------------------------------------


def test_letter_scripts_and_script_fits():
    assert letter_scripts("Paris 1688 北京!") == Counter({"Latin": 5, "Han": 2})
    assert letter_scripts("1688 ?!") == Counter()
    assert script_fits("1688", "ru")
    assert script_fits("東京タワ", "ja")
    assert not script_fits("東京タワ", "zh")  # katakana is not Han


def test_common_and_inherited_script_letters_fit():
    # ー (U+30FC, Lm, Script=Common) and a combining stress accent (U+0301, Script=Inherited)
    # are counted as "Other", so ordinary Japanese and accented Russian are "wrong language".
    assert script_fits("コーヒー", "ja")
    assert classify_error("コーヒー", "ja") == "content"
    assert script_fits("Москва́", "ru")
    assert classify_error("Москва́", "ru") == "content"


def test_identify_unique_script_decides():
    found = identify("Москва", ["en", "ru", "es"])
    assert (found.lang, found.confidence, found.by) == ("ru", 1.0, "script")
    found = identify("北京大学", ["en", "zh", "ro"])
    assert (found.lang, found.by) == ("zh", "script")
    found = identify("hello", ["en"])
    assert (found.lang, found.by) == ("en", "script")


def test_identify_lingua_among_latin_candidates():
    found = identify("la biblioteca pública de la ciudad", ["en", "es", "ro"])
    assert (found.lang, found.by) == ("es", "lingua")
    assert found.confidence >= 0.5
    found = identify("the public library of the city", ["en", "es", "ro", "de"])
    assert (found.lang, found.by) == ("en", "lingua")
    below_floor = identify("la biblioteca", ["es", "it"], min_confidence=1.01)
    assert (below_floor.lang, below_floor.by) == (None, "lingua")


def test_identify_without_letters_or_fitting_candidate():
    found = identify("1688 ?!", ["en", "ru"])
    assert (found.lang, found.confidence, found.by) == (None, 0.0, "none")
    found = identify("北京", ["en", "es"])
    assert (found.lang, found.by) == (None, "none")


def test_identify_needs_candidates():
    with pytest.raises(DataError):
        identify("Paris", [])

"""Code-switching and corruption builders: realised rate, determinism, a hand-checked case,
punctuation and case, paired baselines, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xling.corpus.codeswitch import (
    CORE_LEXICON,
    Switched,
    code_switch,
    core_lexicon,
    delete_words,
    random_replace,
    text_rng,
)
from xling.data.lexicon import Concept, Lexicon
from xling.errors import DataError

FILLER = ["the", "of", "and", "to", "in", "that", "with", "was", "for", "on", "quite", "xyzzy"]


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return core_lexicon()


@pytest.fixture
def tiny() -> Lexicon:
    return Lexicon(
        [
            Concept("dog", "noun", {"en": ["dog"], "fr": ["chien"], "de": ["Hund"]}),
            Concept("cat", "noun", {"en": ["cat", "kitty"], "fr": ["chat"], "de": ["Katze"]}),
            Concept("tree", "noun", {"en": ["tree"], "fr": ["arbre"]}),  # no German word
        ],
        name="tiny",
    )


def make_texts(lex: Lexicon, n: int, seed: int = 123) -> list[str]:
    """English-looking texts mixing lexicon words (some capitalised, some with punctuation)
    with filler words that have no lexicon entry."""
    rng = np.random.default_rng(seed)
    content = [c.word("en") for c in lex]
    texts = []
    for _ in range(n):
        words = []
        for _ in range(int(rng.integers(8, 30))):
            w = str(rng.choice(content if rng.random() < 0.5 else FILLER))
            if rng.random() < 0.1:
                w = w.capitalize()
            if rng.random() < 0.1:
                w += str(rng.choice([",", ".", "!", ";"]))
            words.append(w)
        texts.append(" ".join(words))
    return texts


def binomial_interval(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """The central `level` interval of Binomial(n, p), exactly."""
    tail, cdf, lo = (1 - level) / 2, 0.0, None
    for k in range(n + 1):
        log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        cdf += math.exp(log_pmf + k * math.log(p) + (n - k) * math.log1p(-p))
        if lo is None and cdf >= tail:
            lo = k
        if cdf >= 1 - tail:
            return lo, k
    return lo, n


def test_bundled_lexicon(lex):
    assert CORE_LEXICON.name == "core.jsonl" and CORE_LEXICON.exists()
    assert len(lex) == 225 and {"en", "fr", "de", "es", "it"} <= set(lex.languages)
    assert core_lexicon() is lex  # loaded once


def test_realised_rate_is_within_the_binomial_interval(lex):
    results = [code_switch(t, lex, seed=7) for t in make_texts(lex, 400)]
    replaced, eligible = sum(r.replaced for r in results), sum(r.eligible for r in results)
    words = sum(r.words for r in results)
    assert eligible > 2000 and words - eligible > 2000  # filler words are kept and counted
    lo, hi = binomial_interval(eligible, 0.16)
    assert lo <= replaced <= hi, (replaced, eligible, lo, hi)


def test_baselines_perturb_the_same_positions(lex):
    texts = make_texts(lex, 200, seed=5)
    totals = {"cs": 0, "rr": 0, "del": 0}
    for t in texts:
        cs = code_switch(t, lex, seed=11)
        rr = random_replace(t, ["qqq"], seed=11, lexicon=lex)
        de = delete_words(t, seed=11, lexicon=lex)
        assert cs.replaced == rr.replaced == de.replaced and cs.eligible == rr.eligible == de.eligible
        assert len(de.text.split()) <= len(t.split()) and cs.words == de.words
        marked = {i for i, w in enumerate(rr.text.split()) if "qqq" in w.lower()}
        changed = {i for i, (a, b) in enumerate(zip(t.split(), cs.text.split(), strict=True)) if a != b}
        assert changed <= marked and len(marked) == rr.replaced
        totals["cs"] += cs.replaced
        totals["rr"] += rr.replaced
        totals["del"] += de.replaced
    assert totals["cs"] == totals["rr"] == totals["del"] > 0


def test_baseline_without_lexicon_uses_every_word(lex):
    results = [delete_words(t, 0.16, seed=2) for t in make_texts(lex, 200)]
    assert all(r.eligible == r.words for r in results)
    lo, hi = binomial_interval(sum(r.words for r in results), 0.16)
    assert lo <= sum(r.replaced for r in results) <= hi


def test_determinism(lex):
    texts = make_texts(lex, 50, seed=9)
    first = [code_switch(t, lex, seed=0) for t in texts]
    assert first == [code_switch(t, lex, seed=0) for t in texts]
    # Each text has its own stream: order and company do not matter.
    assert first[::-1] == [code_switch(t, lex, seed=0) for t in reversed(texts)]
    assert code_switch(texts[3], lex, seed=0) == first[3]
    other = [code_switch(t, lex, seed=1) for t in texts]
    assert sum(a.text != b.text for a, b in zip(first, other, strict=True)) > 25
    for build in (
        lambda s: random_replace(texts[0], FILLER, 0.5, s),
        lambda s: delete_words(texts[0], 0.5, s),
    ):
        assert build(4) == build(4) and build(4) != build(5)


def test_stream_is_seeded_from_seed_and_text_hash():
    import hashlib

    text = "A stable stream."
    h = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
    assert np.array_equal(text_rng(text, 3).random(5), np.random.default_rng([3, h]).random(5))
    assert not np.array_equal(text_rng(text, 3).random(5), text_rng(text + " ", 3).random(5))


def test_hand_checked_example(tiny):
    text = 'The Dog, my kitty and "cat" (DOG) see a tree.'
    fr = code_switch(text, tiny, rate=1.0, languages=("fr",))
    assert fr == Switched('The Chien, my chat and "chat" (Chien) see a arbre.', 5, 5, 10)
    de = code_switch(text, tiny, rate=1.0, languages=("de",))
    # tree has no German word: kept and not eligible.
    assert de == Switched('The Hund, my Katze and "Katze" (Hund) see a tree.', 4, 4, 10)
    both = code_switch(text, tiny, rate=1.0, languages=("fr", "de"))
    assert both.eligible == 4 and both.text.endswith("see a tree.")
    assert code_switch(text, tiny, rate=0.0, languages=("fr",)) == Switched(text, 0, 5, 10)


def test_hand_checked_draws_follow_the_documented_protocol(tiny):
    text = "dog cat tree dog kitty"
    u = text_rng(text, 3)
    mask = u.random(5) < 0.5  # one uniform per eligible word, first
    picks = iter(u.integers(2, size=int(mask.sum())))  # then a language per chosen word
    table = {"dog": ("chien", "Hund"), "cat": ("chat", "Katze"), "kitty": ("chat", "Katze")}
    table["tree"] = ("arbre", "Baum")
    lex = Lexicon([*tiny.concepts[:2], Concept("tree", "noun", {"en": "tree", "fr": "arbre", "de": "Baum"})])
    want = [table[w][next(picks)] if m else w for w, m in zip(text.split(), mask, strict=True)]
    got = code_switch(text, lex, rate=0.5, languages=("fr", "de"), seed=3)
    assert got == Switched(" ".join(want), int(mask.sum()), 5, 5)
    assert 0 < got.replaced < 5  # the seed exercises both branches


def test_whitespace_punctuation_and_capitals_are_kept(tiny):
    text = "  Dog!\n\tthe  dog...  ¿Cat? "
    out = code_switch(text, tiny, rate=1.0, languages=("fr",))
    assert out.text == "  Chien!\n\tthe  chien...  ¿Chat? "
    rr = random_replace(text, ["zebra"], 1.0, lexicon=tiny, languages=("fr",))
    assert rr.text == "  Zebra!\n\tthe  zebra...  ¿Zebra? " and rr.replaced == 3


def test_deletion_keeps_punctuation(tiny):
    def delete(text: str) -> str:
        return delete_words(text, 1.0, lexicon=tiny, languages=("fr",)).text

    assert delete("The dog, barked.") == "The, barked."
    assert delete('She said "dog" twice') == 'She said "" twice'
    assert delete("(cat and more") == "(and more"
    assert delete("A  tree.") == "A."
    assert delete("dog, then more") == ", then more"
    assert delete("dog cat") == ""
    assert delete_words("", 1.0) == Switched("", 0, 0, 0)


def test_words_without_a_core_are_not_words(tiny):
    out = code_switch("dog -- cat ...", tiny, rate=1.0, languages=("fr",))
    assert out == Switched("chien -- chat ...", 2, 2, 2)


@pytest.mark.parametrize("rate", [-0.01, 1.01, float("nan"), True, "0.1", None])
def test_bad_rate(tiny, rate):
    with pytest.raises(DataError, match="rate must"):
        code_switch("dog", tiny, rate=rate, languages=("fr",))
    with pytest.raises(DataError, match="rate must"):
        random_replace("dog", ["x"], rate)
    with pytest.raises(DataError, match="rate must"):
        delete_words("dog", rate)


@pytest.mark.parametrize(
    ("languages", "match"),
    [
        (("xx",), "unknown language code 'xx'"),
        (("jp",), "did you mean 'ja'"),
        (("fr", "pt"), "has no pt words"),
        (("fr", "fr"), "repeat a language"),
        (("en",), "must not include 'en'"),
        ("fr", "non-empty sequence"),
        ((), "non-empty sequence"),
    ],
)
def test_bad_languages(lex, languages, match):
    with pytest.raises(DataError, match=match):
        code_switch("the dog", lex, languages=languages)
    with pytest.raises(DataError, match=match):
        delete_words("the dog", lexicon=lex, languages=languages)


def test_other_bad_input(tiny):
    with pytest.raises(DataError, match="text must be a string"):
        code_switch(["dog"], tiny, languages=("fr",))
    with pytest.raises(DataError, match="seed must be"):
        code_switch("dog", tiny, languages=("fr",), seed=-1)
    with pytest.raises(DataError, match="must be an xling Lexicon"):
        code_switch("dog", {"dog": "chien"}, languages=("fr",))
    with pytest.raises(DataError, match="non-empty sequence of words"):
        random_replace("dog", [], 0.5)
    with pytest.raises(DataError, match="single non-blank words"):
        random_replace("dog", ["two words"], 0.5)
    clash = Lexicon(
        [
            Concept("bank1", None, {"en": "bank", "fr": "banque"}),
            Concept("bank2", None, {"en": "bank", "fr": "rive"}),
        ]
    )
    with pytest.raises(DataError, match="'bank' is in concepts 'bank1' and 'bank2'"):
        code_switch("the bank", clash, languages=("fr",))


def test_bundled_glosses_cover_the_shipped_english_texts():
    """The glosses hold one entry per word form of the shipped English texts (names and
    numbers left out), in all four languages: nearly every word is eligible, and no entry is
    for a word the texts lack."""
    import re
    import unicodedata

    from xling.corpus.codeswitch import GLOSSES, switching_lexicon
    from xling.knowledge import surface

    glosses = switching_lexicon()
    assert switching_lexicon(GLOSSES) is glosses  # "" and the path are one cached load
    assert set(glosses.languages) == {"en", "fr", "de", "es", "it"}
    texts = [t for _, t in surface.load_paragraphs("")] + [r["en"] for r in surface.load_sentences("")[0]]
    forms = {
        m.group(1).casefold()
        for t in texts
        for tok in t.split()
        if (m := re.match(r"^\W*(.*?)\W*$", tok)) and m.group(1)
    }
    for concept in glosses:
        assert concept.id in forms, concept.id
        for lang in ("fr", "de", "es", "it"):
            word = concept.word(lang)
            assert word == word.strip() and word == unicodedata.normalize("NFC", word), (concept.id, lang)
    eligible = words = 0
    for text in texts:
        s = code_switch(text, glosses, 0.16, ("fr", "de", "es", "it"), 0)
        eligible, words = eligible + s.eligible, words + s.words
    assert eligible / words > 0.88  # measured 0.908; the rest are names and numbers

"""Code-switched and corrupted copies of English text, for the embedding surface test.

The surface test (Chua et al. 2025) asks whether a text's embedding moves less when some of its
words are swapped for their translations than when the same number of words are swapped for
random words or deleted. Three builders make the variants:

- `code_switch`: an eligible word is replaced, with probability `rate`, by its translation into
  one language drawn uniformly from `languages`.
- `random_replace`: the same positions process, replacing by a word drawn uniformly from a list.
- `delete_words`: the same positions process, deleting the word.

Words. The text is split on whitespace; a token's word core is what remains after stripping its
leading and trailing non-word characters (regex `\\W`, so punctuation, quotes, brackets), and only
the core is replaced or deleted: `"Dog,"` becomes `"Chien,"`. A token with no core (`--`) is not
a word. Inner punctuation stays part of the core, so `don't` or `dog's` is looked up as a whole
(and so never matches a lexicon word). Whitespace between kept tokens is preserved exactly.

Eligibility. For code-switching a word is eligible when its core, NFC-normalised and casefolded,
is an English word of a lexicon concept that has words in every language of `languages`; the
translation is that concept's canonical word. The rate applies among eligible words, so
`replaced / eligible` is ~rate; `words - eligible` counts the words kept for lack of a
translation. The baselines take the same `lexicon` and `languages` keywords and then use the
same eligible positions, so the three variants perturb the same share of the text. Without a
lexicon every word is eligible for a baseline (the rate is then over all words).

Capitals. A core starting with an upper-case letter gets an upper-case first letter in its
replacement (`Dog` -> `Chien`); a lower-case core keeps the replacement as written, so German
nouns stay capitalised (`dog` -> `Hund`). All-capital words get only the initial capital.
Deletion re-capitalises nothing and keeps a deleted word's punctuation: trailing punctuation is
glued to the previous kept token, leading punctuation to the next (`The dog, barked.` ->
`The, barked.`); punctuation on both sides, or trailing punctuation with no token before it,
stays as a token of its own (`"dog"` -> `""`).

Randomness. Each text gets its own stream, `numpy.random.default_rng([seed, h])` with `h` the
64-bit little-endian BLAKE2b digest of the UTF-8 text (`text_rng`), so results do not depend on
the order or number of texts processed, nor on Python's salted `hash`. The first draw is one
uniform per eligible word (chosen when below `rate`); the choices of language or random word
come after. The three builders therefore choose exactly the same positions for the same text,
seed, rate and eligibility, a paired comparison rather than one at the same rate in expectation.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import replace as replace_fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from xling.data.languages import get_language
from xling.data.lexicon import Lexicon, clean_word
from xling.data.lexicon_formats import load_lexicon
from xling.errors import DataError

CORE_LEXICON = Path(__file__).resolve().parents[1] / "data" / "lexicons" / "core.jsonl"
# Word-form glosses (en -> fr, de, es, it) of every word of the English texts xling ships.
GLOSSES = CORE_LEXICON.with_name("glosses.jsonl")
DEFAULT_RATE = 0.16
DEFAULT_LANGUAGES = ("fr", "de", "es", "it")
_TOKEN = re.compile(r"\S+")
_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


@dataclass(frozen=True)
class Switched:
    """A perturbed text and its counts: `replaced` (deleted, for `delete_words`) of `eligible`
    eligible words, out of `words` words in the text."""

    text: str
    replaced: int
    eligible: int
    words: int


def core_lexicon() -> Lexicon:
    """The bundled 225-concept, 15-language lexicon (xling/data/lexicons/core.jsonl)."""
    return _load_core()


@lru_cache(maxsize=1)
def _load_core() -> Lexicon:
    return load_lexicon(CORE_LEXICON)


def switching_lexicon(path: str | Path = "") -> Lexicon:
    """The lexicon code-switching reads: "" = the bundled glosses (every word form of the
    shipped English passages and sentences, names left out; xling/data/lexicons/README.md),
    else any lexicon file `load_lexicon` reads (xling JSONL, MUSE, ...)."""
    return _load_switching(str(Path(path).expanduser()) if path else str(GLOSSES))


@lru_cache(maxsize=4)
def _load_switching(path: str) -> Lexicon:
    return load_lexicon(path)


def text_rng(text: str, seed: int) -> np.random.Generator:
    """The random stream for one text: seeded from (seed, a stable hash of the text)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def _key(word: str) -> str:
    return unicodedata.normalize("NFC", word).casefold()


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise DataError(f"text must be a string, got {type(text).__name__}")
    return text


def _check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not math.isfinite(rate):
        raise DataError(f"rate must be a number in [0, 1], got {rate!r}")
    if not 0 <= rate <= 1:
        raise DataError(f"rate must be in [0, 1], got {rate}")
    return float(rate)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_languages(lexicon: Any, languages: Any) -> tuple[str, ...]:
    if not isinstance(lexicon, Lexicon):
        raise DataError(f"lexicon must be an xling Lexicon, got {type(lexicon).__name__}")
    if isinstance(languages, str) or not isinstance(languages, Sequence) or not languages:
        raise DataError(f"languages must be a non-empty sequence of language codes, got {languages!r}")
    codes = tuple(get_language(lang).code for lang in languages)
    if len(set(codes)) != len(codes):
        raise DataError(f"languages {codes} repeat a language, which would bias the uniform draw")
    if "en" in codes:
        raise DataError("languages must not include 'en': the texts are English")
    have = set(lexicon.languages)
    for code in ("en", *codes):
        if code not in have:
            raise DataError(
                f"lexicon {lexicon.name!r} has no {code} words (it has {' '.join(lexicon.languages)})"
            )
    return codes


@lru_cache(maxsize=16)
def _index(lexicon: Lexicon, languages: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Casefolded English word -> its canonical translation into each of `languages`."""
    index: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for concept in lexicon:
        if not concept.has("en", *languages):
            continue
        for word in concept.accepted("en"):
            key = _key(word)
            if key in index:
                raise DataError(
                    f"lexicon {lexicon.name!r}: English word {word!r} is in concepts {owner[key]!r} "
                    f"and {concept.id!r}; code-switching needs one translation per word"
                )
            index[key], owner[key] = tuple(concept.word(lang) for lang in languages), concept.id
    if not index:
        raise DataError(f"lexicon {lexicon.name!r} has no concept with en and all of {' '.join(languages)}")
    return index


def _match_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and replacement:
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _perturb(
    text: str,
    rate: float,
    seed: int,
    eligible: Callable[[str], bool],
    replace: Callable[[np.random.Generator, list[str]], list[str]] | None,
) -> Switched:
    """Choose eligible words with probability `rate`; replace their cores (or delete them when
    `replace` is None). `replace(rng, cores)` returns the new cores, drawing after the mask."""
    tokens = list(_TOKEN.finditer(text))
    parts = [_CORE.match(m.group()).groups() for m in tokens]  # (pre, core, post)
    words = [k for k, (_, core, _) in enumerate(parts) if core]
    positions = [k for k in words if eligible(parts[k][1])]
    rng = text_rng(text, seed)
    chosen = [k for k, u in zip(positions, rng.random(len(positions)), strict=True) if u < rate]
    result = Switched(text, len(chosen), len(positions), len(words))
    if not chosen:
        return result
    if replace is not None:
        new = dict(zip(chosen, replace(rng, [parts[k][1] for k in chosen]), strict=True))
        out, end = [], 0
        for k, m in enumerate(tokens):
            pre, core, post = parts[k]
            out += [text[end : m.start()], pre + new.get(k, core) + post]
            end = m.end()
        return replace_fields(result, text="".join(out) + text[end:])
    return replace_fields(result, text=_delete(text, tokens, parts, set(chosen)))


def _delete(text: str, tokens: list[re.Match], parts: list[tuple[str, ...]], drop: set[int]) -> str:
    """The text without the cores at `drop`, their punctuation glued to the neighbouring tokens."""
    kept: list[list[str]] = []  # [whitespace before, token]
    carry = ""  # leading punctuation of deleted words, waiting for the next kept token
    for k, m in enumerate(tokens):
        pre, _core, post = parts[k]
        sep = text[tokens[k - 1].end() if k else 0 : m.start()]
        if k not in drop or (post and (pre or not kept)):  # e.g. a quoted word leaves its quotes
            token = pre + post if k in drop else m.group()
            kept.append([sep if kept else text[: tokens[0].start()], carry + token])
            carry = ""
        elif post:
            kept[-1][1] += post
        else:
            carry += pre
    if carry:
        if kept:
            kept[-1][1] += carry
        else:
            kept.append([text[: tokens[0].start()], carry])
    return "".join(s + t for s, t in kept) + text[tokens[-1].end() :]


def code_switch(
    text: str,
    lexicon: Lexicon,
    rate: float = DEFAULT_RATE,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    seed: int = 0,
) -> Switched:
    """Replace each eligible word, with probability `rate`, by its translation into one of
    `languages` drawn uniformly (see the module docstring for eligibility and case)."""
    text, rate, seed = _check_text(text), _check_rate(rate), _check_seed(seed)
    codes = _check_languages(lexicon, languages)
    index = _index(lexicon, codes)

    def translate(rng: np.random.Generator, cores: list[str]) -> list[str]:
        picks = rng.integers(len(codes), size=len(cores))
        return [_match_case(c, index[_key(c)][j]) for c, j in zip(cores, picks, strict=True)]

    return _perturb(text, rate, seed, lambda core: _key(core) in index, translate)


def _baseline_eligible(lexicon: Lexicon | None, languages: Sequence[str]) -> Callable[[str], bool]:
    if lexicon is None:
        return lambda core: True
    index = _index(lexicon, _check_languages(lexicon, languages))
    return lambda core: _key(core) in index


def random_replace(
    text: str,
    vocab_words: Sequence[str],
    rate: float = DEFAULT_RATE,
    seed: int = 0,
    *,
    lexicon: Lexicon | None = None,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
) -> Switched:
    """The random-word baseline: the positions `code_switch` would choose (given the same
    lexicon and languages; every word when `lexicon` is None), each replaced by a word drawn
    uniformly from `vocab_words` (which may by chance be the original word)."""
    text, rate, seed = _check_text(text), _check_rate(rate), _check_seed(seed)
    if isinstance(vocab_words, str) or not isinstance(vocab_words, Sequence) or not vocab_words:
        raise DataError("vocab_words must be a non-empty sequence of words")
    vocab = [clean_word(w) for w in vocab_words]
    for w, raw in zip(vocab, vocab_words, strict=True):
        if not w or " " in w:
            raise DataError(f"vocab_words must be single non-blank words, got {raw!r}")
    eligible = _baseline_eligible(lexicon, languages)

    def draw(rng: np.random.Generator, cores: list[str]) -> list[str]:
        return [
            _match_case(c, vocab[j])
            for c, j in zip(cores, rng.integers(len(vocab), size=len(cores)), strict=True)
        ]

    return _perturb(text, rate, seed, eligible, draw)


def delete_words(
    text: str,
    rate: float = DEFAULT_RATE,
    seed: int = 0,
    *,
    lexicon: Lexicon | None = None,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
) -> Switched:
    """The deletion baseline: the positions `code_switch` would choose (given the same lexicon
    and languages; every word when `lexicon` is None), their word cores deleted."""
    text, rate, seed = _check_text(text), _check_rate(rate), _check_seed(seed)
    return _perturb(text, rate, seed, _baseline_eligible(lexicon, languages), None)

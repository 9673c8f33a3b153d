"""Which language a short text is in: its script first, then `lingua` among candidates.

Scripts decide where they can (a Cyrillic answer is not Romanian, whatever a statistical
model says about three letters). Within a script shared by several candidates (Latin for
en/es/de/tr/vi/ro, Han for zh/ja), the offline `lingua-language-detector` models decide,
restricted to the candidate languages and only above a confidence floor: short answers
are often undecidable, and "undecided" is an answer, not a guess.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Iterable

import regex

from xling.data.languages import get_language
from xling.errors import DataError

# ISO 15924 code -> Unicode script property names whose letters count as that script.
_SCRIPTS = {
    "Latn": ("Latin",),
    "Grek": ("Greek",),
    "Cyrl": ("Cyrillic",),
    "Arab": ("Arabic",),
    "Deva": ("Devanagari",),
    "Thai": ("Thai",),
    "Hani": ("Han",),
    "Jpan": ("Han", "Hiragana", "Katakana"),
    "Kore": ("Hangul", "Han"),
    "Hebr": ("Hebrew",),
    "Beng": ("Bengali",),
}
_NAMES = sorted({n for names in _SCRIPTS.values() for n in names})
# Script_Extensions, so that the prolonged sound mark ー counts as kana; Common and Inherited
# letters and marks (combining accents, e.g. a Russian stress mark) belong to any script.
_LETTER_SCRIPT = {name: regex.compile(rf"\p{{scx={name}}}") for name in _NAMES}
_ANY_SCRIPT = regex.compile(r"[\p{Script=Common}\p{Script=Inherited}]")


def letter_scripts(text: str) -> Counter:
    """Counts of letters (and marks) per Unicode script name; digits, punctuation, spaces and
    symbols are not counted."""
    counts: Counter = Counter()
    for ch in text:
        if not (ch.isalpha() or regex.match(r"\p{M}", ch)):
            continue
        for name, pattern in _LETTER_SCRIPT.items():
            if pattern.match(ch):
                counts[name] += 1
                break
        else:
            if not _ANY_SCRIPT.match(ch):
                counts["Other"] += 1
    return counts


def language_scripts(lang: str) -> tuple[str, ...]:
    """The Unicode script names a language's letters are in (Japanese: Han and both kanas)."""
    return _SCRIPTS.get(get_language(lang).script, ())


def script_fits(text: str, lang: str) -> bool:
    """Whether every letter of `text` is in a script the language is written in (True for a
    text without letters)."""
    allowed = set(language_scripts(lang))
    counts = letter_scripts(text)
    return all(name in allowed for name in counts)


@dataclasses.dataclass(frozen=True)
class Identification:
    lang: str | None  # None: undecided (no letters, or below the confidence floor)
    confidence: float
    by: str  # "script", "lingua" or "none"


@functools.lru_cache(maxsize=8)
def _detector(codes: tuple[str, ...]):
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    isos = []
    for code in codes:
        try:
            isos.append(IsoCode639_1.from_str(code))
        except ValueError:
            raise DataError(f"lingua has no model for language {code!r}") from None
    if len(isos) < 2:  # lingua needs two; a one-language question has a script answer only
        return None
    return LanguageDetectorBuilder.from_iso_codes_639_1(*isos).build()


def identify(text: str, candidates: Iterable[str], *, min_confidence: float = 0.5) -> Identification:
    """The candidate language `text` is written in.

    1. No letters: undecided. 2. Exactly one candidate's script holds all the letters: that
    candidate. 3. Otherwise lingua among the candidates whose script fits, if its confidence
    (its share of probability among those candidates) reaches `min_confidence`.
    """
    codes = tuple(sorted({get_language(c).code for c in candidates}))
    if not codes:
        raise DataError("no candidate languages to identify")
    if not letter_scripts(text):
        return Identification(None, 0.0, "none")
    fitting = tuple(c for c in codes if script_fits(text, c))
    if len(fitting) == 1:
        return Identification(fitting[0], 1.0, "script")
    if not fitting:
        return Identification(None, 0.0, "none")
    detector = _detector(fitting)
    values = detector.compute_language_confidence_values(text)
    best = max(values, key=lambda v: v.value)
    code = best.language.iso_code_639_1.name.lower()
    if best.value < min_confidence:
        return Identification(None, float(best.value), "lingua")
    return Identification(code, float(best.value), "lingua")

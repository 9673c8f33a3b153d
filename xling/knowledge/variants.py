"""Mixed-language multiple-choice variants, built the way Chua et al.'s reference code builds
them (`MMLU/translate.py`), from an English set and its parallel translations.

  full_L          question and all four options in L
  question_L      question in L, options English
  options_L       question English, all options in L
  gt_L            only the correct option in L
  gt_question_L   question and the correct option in L
  onewrong_L      one wrong option in L, drawn at random
  threewrong_L    all three wrong options in L
  mixup           the question in one language and options A-D in the four others

Randomness follows the reference exactly, as one `random.Random(42)` stream per split:
- onewrong: subjects in sorted order, then languages in (fr, de, es, it), then rows, one
  `choice` among the wrong options per row (the reference draws all languages in one run).
- mixup: the language list is reset to [en, fr, de, es, it] at the start of every subject and
  shuffled in place per question, so each question shuffles the previous question's order
  (not a fresh list); the question takes the first language, options A-D the other four.
The answer letter never changes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from xling.errors import DataError

if TYPE_CHECKING:
    from xling.data.mmlu import MCItem

KINDS = ("full", "question", "options", "gt", "gt_question", "onewrong", "threewrong")
LANGS = ("fr", "de", "es", "it")  # the reference's translation languages, in its loop order
MIXUP_LANGS = ("en", *LANGS)
SEED = 42
LETTERS = "ABCD"


@dataclasses.dataclass(frozen=True)
class VariantItem:
    id: str
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # the letter, as in English
    langs: tuple[str, str, str, str, str]  # of the question and of options A-D
    variant: str


def variant_names(langs: Sequence[str] = LANGS) -> list[str]:
    return ["en", *(f"{k}_{lang}" for k in KINDS for lang in langs), "mixup"]


def parse_variant(name: str) -> tuple[str, str | None]:
    """("en", None), ("mixup", None) or (kind, lang); an unknown name is an error."""
    if name in ("en", "mixup"):
        return name, None
    kind, _, lang = name.rpartition("_")
    if kind not in KINDS or lang not in LANGS:
        known = ", ".join(f"{k}_L" for k in KINDS)
        raise DataError(f"unknown variant {name!r} (known: en, mixup, {known}; L in {', '.join(LANGS)})")
    return kind, lang


def _onewrong_table(english: Mapping[str, Sequence[MCItem]]) -> dict[tuple[str, str, int], int]:
    """(subject, lang, row) -> index of the wrong option put in L, drawn as the reference does."""
    rng = random.Random(SEED)
    table = {}
    for subject in sorted(english):
        for lang in LANGS:
            for row, item in enumerate(english[subject]):
                answer = LETTERS.index(item.answer)
                table[subject, lang, row] = rng.choice([j for j in range(4) if j != answer])
    return table


def _mixup_table(english: Mapping[str, Sequence[MCItem]]) -> dict[tuple[str, int], tuple[str, ...]]:
    rng = random.Random(SEED)
    table = {}
    for subject in sorted(english):
        order = list(MIXUP_LANGS)  # reset per subject, as the reference does
        for row in range(len(english[subject])):
            rng.shuffle(order)  # in place: cumulative within the subject
            table[subject, row] = tuple(order)
    return table


def build_variant(
    name: str,
    english: Mapping[str, Sequence[MCItem]],
    translated: Mapping[str, Mapping[str, Sequence[MCItem]]],
) -> dict[str, list[VariantItem]]:
    """{subject: items} of one variant. `translated[lang][subject]` must be aligned with
    `english[subject]` row by row (`xling.data.mmlu.align`)."""
    kind, lang = parse_variant(name)
    needed = MIXUP_LANGS[1:] if kind == "mixup" else () if kind == "en" else (lang,)
    for code in needed:
        if code not in translated:
            raise DataError(f"variant {name} needs the {code} translation, which is not loaded")
    onewrong = _onewrong_table(english) if kind == "onewrong" else {}
    mixup = _mixup_table(english) if kind == "mixup" else {}
    out: dict[str, list[VariantItem]] = {}
    for subject in sorted(english):
        items = []
        for row, en in enumerate(english[subject]):
            src = {"en": en} | {code: translated[code][subject][row] for code in needed}
            if kind == "mixup":
                langs = mixup[subject, row]
            elif kind == "en":
                langs = ("en",) * 5
            else:
                langs = _langs(kind, lang, LETTERS.index(en.answer), onewrong.get((subject, lang, row)))
            question = src[langs[0]].question
            choices = tuple(src[langs[j + 1]].choices[j] for j in range(4))
            items.append(VariantItem(en.id, subject, question, choices, en.answer, langs, name))
        out[subject] = items
    return out


def _langs(kind: str, lang: str, answer: int, wrong: int | None) -> tuple[str, ...]:
    q = lang if kind in ("full", "question", "gt_question") else "en"
    opts = []
    for j in range(4):
        if kind in ("full", "options"):
            opts.append(lang)
        elif kind in ("gt", "gt_question"):
            opts.append(lang if j == answer else "en")
        elif kind == "onewrong":
            opts.append(lang if j == wrong else "en")
        elif kind == "threewrong":
            opts.append(lang if j != answer else "en")
        else:  # question
            opts.append("en")
    return (q, *opts)

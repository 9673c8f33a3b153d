"""xMRC settings: which (context language, question language) pairs to ask, on which data.

A setting names a set of pairs over the run's languages:
  en-x    English context, question in each other language (gold: the English span)
  x-x     context and question in each other language
  en-en   both English
  x-en    context in each other language, question in English
  matrix  every (context, question) pair of the languages
  c-q     one explicit pair, e.g. de-zh
The gold answers are always spans of the context, so the answer is expected in the
context's language.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

from xling.data.languages import get_language
from xling.data.squad import align, load_mlqa, load_xquad, mlqa_pairs, xquad_languages
from xling.errors import DataError

SHIPPED_XQUAD = Path(__file__).resolve().parents[1] / "data" / "xmrc"
NAMED = ("en-x", "x-x", "en-en", "x-en", "matrix")


def parse_list(value: str | Sequence[str], what: str) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [i.strip() for i in items if i.strip()]
    if len(set(items)) != len(items):
        raise DataError(f"{what}: an entry is given twice ({', '.join(items)})")
    return items


def setting_pairs(setting: str, languages: Sequence[str]) -> list[tuple[str, str]]:
    """The (context, question) pairs of one setting name over `languages`."""
    others = [x for x in languages if x != "en"]
    if setting in ("en-x", "en-en", "x-en") and "en" not in languages:
        raise DataError(f"setting {setting} needs English, which is not among the languages")
    if setting == "en-x":
        return [("en", x) for x in others]
    if setting == "x-x":
        return [(x, x) for x in others]
    if setting == "en-en":
        return [("en", "en")]
    if setting == "x-en":
        return [(x, "en") for x in others]
    if setting == "matrix":
        return [(c, q) for c in languages for q in languages]
    parts = setting.split("-")
    if len(parts) == 2 and all(len(p) == 2 for p in parts):
        c, q = (get_language(p).code for p in parts)
        for code in (c, q):
            if code not in languages:
                raise DataError(
                    f"setting {setting}: {code} is not among the languages ({', '.join(languages)})"
                )
        return [(c, q)]
    raise DataError(f"unknown setting {setting!r} (known: {', '.join(NAMED)}, or a pair such as de-zh)")


@dataclasses.dataclass(frozen=True)
class PairExample:
    """A question in `question_lang` about a context in `context_lang`."""

    id: str
    context_lang: str
    question_lang: str
    title: str
    context: str
    question: str
    answers: tuple  # of squad.Answer, spans of `context`


class QAData:
    """Parallel examples from an XQuAD directory (joined by question id) or an MLQA directory
    (one file per pair)."""

    def __init__(self, source: str, path: Path, languages: list[str], examples, pairs=None):
        self.source, self.path, self.languages = source, path, languages
        self._examples = examples  # XQuAD: {lang: [QAExample]}; MLQA: {(c, q): [QAExample]}
        self._pairs = pairs

    @classmethod
    def open(cls, xquad: str = "", mlqa: str = "", languages: Sequence[str] = (), split: str = "test"):
        """Read the data for `languages` (default: every language present)."""
        if xquad and mlqa:
            raise DataError("set one of data.xquad and data.mlqa, not both")
        wanted = [get_language(code).code for code in languages] or None
        if mlqa:
            path = Path(mlqa).expanduser()
            present = mlqa_pairs(path, split)
            have = sorted({lang for pair in present for lang in pair})
            missing = [code for code in wanted or [] if code not in have]
            if missing:
                raise DataError(
                    f"{path}: no MLQA {split} files for {', '.join(missing)} (have: {', '.join(have)})"
                )
            return cls("mlqa", path, wanted or have, None, (path, split))
        path = Path(xquad).expanduser() if xquad else SHIPPED_XQUAD
        by_lang = load_xquad(path, wanted)
        return cls("xquad", path, wanted or xquad_languages(path), by_lang)

    def files(self) -> list[Path]:
        """The data files the run reads (their digests go into the run's fingerprint)."""
        if self.source == "mlqa":
            path, split = self._pairs
            root = path / split if (path / split).is_dir() else path
            return sorted(root.glob(f"{split}-context-*-question-*.json"))
        return [self.path / f"xquad.{code}.json" for code in self.languages]

    def pair(self, context_lang: str, question_lang: str) -> list[PairExample]:
        """The examples of one pair, in the data's order."""
        if self.source == "mlqa":
            path, split = self._pairs
            examples = load_mlqa(path, [(context_lang, question_lang)], split)[context_lang, question_lang]
            return [
                PairExample(e.id, context_lang, question_lang, e.title, e.context, e.question, e.answers)
                for e in examples
            ]
        ctx = self._examples[context_lang]
        questions = {e.id: e.question for e in self._examples[question_lang]}
        align({context_lang: ctx, question_lang: self._examples[question_lang]})
        return [
            PairExample(e.id, context_lang, question_lang, e.title, e.context, questions[e.id], e.answers)
            for e in ctx
        ]


def select_ids(ids: Sequence[str], n: int, seed: int, paragraphs: Sequence[str] | None = None) -> set[str]:
    """A seeded subset of `n` question ids (0: all), the same ids whatever the pair. Whole
    paragraphs are taken (`paragraphs[i]`: a key of question i's paragraph, the same in every
    language), in an order hashed from (seed, key), the last one cut to make `n`: questions
    about one context share its prefill, and parallel pairs keep parallel questions."""
    if n <= 0 or n >= len(ids):
        return set(ids)
    keys = list(ids) if paragraphs is None else list(paragraphs)
    members: dict[str, list[str]] = {}
    for qid, key in zip(ids, keys, strict=True):
        members.setdefault(key, []).append(qid)
    ranked = sorted(members, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    picked: list[str] = []
    for key in ranked:
        picked += members[key][: n - len(picked)]
        if len(picked) == n:
            break
    return set(picked)


def paragraph_keys(examples: Sequence[PairExample]) -> list[str]:
    """Per example, the first question id of its context: a paragraph key shared by every
    language of a parallel set."""
    first: dict[str, str] = {}
    return [first.setdefault(e.context, e.id) for e in examples]

"""Extractive-QA scores across languages: MLQA-style normalisation, exact match and F1.

The rules follow MLQA's official evaluation (`mlqa_evaluation_v1.py`, Lewis et al. 2020),
applied in its order: lower-case; delete every punctuation character (Unicode categories P*
plus ASCII `string.punctuation`, which adds symbols such as $ + < = > ^ ` | ~); delete
articles; then tokenise, on whitespace for spaced scripts and by "mixed segmentation" for
unspaced ones (each Han character its own token, runs of other characters split on
whitespace). For MLQA's seven languages (en, es, de, vi, ar, hi, zh) the article lists and
tokenisation are MLQA's own, quirks included: the Arabic rule deletes the letters "ال"
wherever they occur, not only as a prefix, and the Han range is MLQA's U+4E00-U+9FA5.

The other languages, xling's extension (the same shape of rule):
  el  the definite and indefinite articles in every case;
  ro  the free-standing indefinite articles (un, o, niște, unui, unei, unor); Romanian's
      definite article is a suffix and stays, as German's inflection does;
  fr, it  the free-standing articles, and elided ones: an apostrophe after l, d, un... is
      replaced by a space before punctuation is removed (l'Université -> l Université ->
      Université), where MLQA's order would glue "luniversité";
  ru, tr, hi  none (no articles; MLQA also removes none for hi);
  th, ja  mixed segmentation with the Thai block (U+0E00-U+0E7F), or Han + kana, as the
      per-character units, as MLQA does for Chinese.
A language outside this table is an error, not a silent English fallback.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence

from xling.errors import DataError

PUNCT = frozenset(
    {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    | set(string.punctuation)
)

_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "ar": r"\sال^|ال",  # MLQA's pattern verbatim (its first branch can never match)
    "el": r"\b(ο|η|το|οι|τα|του|της|των|τον|την|τους|τις|ένας|μια|μία|ένα|ενός|μιας|έναν)\b",
    "ro": r"\b(un|o|niște|niste|unui|unei|unor)\b",
    "fr": r"\b(le|la|les|l|un|une|des|du)\b",
    "it": r"\b(il|lo|la|i|gli|le|l|un|uno|una|un)\b",
}
_NO_ARTICLES = ("hi", "zh", "ru", "tr", "th", "ja")
# Characters that are one token each in unspaced scripts (MLQA: Chinese only).
_SEGMENTED = {
    "zh": re.compile(r"[\u4e00-\u9fa5]"),
    "ja": re.compile(r"[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]"),
    "th": re.compile(r"[\u0e00-\u0e7f]"),
}
_ARTICLE_RE = {lang: re.compile(p) for lang, p in _ARTICLES.items()}
_ELISION = {
    "fr": re.compile(r"\b(l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)['’]"),
    "it": re.compile(r"\b(l|un|d|dell|all|dall|nell|sull|coll|quest|quell|c)['’]"),
}
SUPPORTED = tuple(sorted(set(_ARTICLES) | set(_NO_ARTICLES)))


def _check(lang: str) -> None:
    if lang not in SUPPORTED:
        raise DataError(f"no QA normalisation rules for language {lang!r} (have: {', '.join(SUPPORTED)})")


def mixed_segmentation(text: str, unit: re.Pattern = _SEGMENTED["zh"]) -> list[str]:
    """MLQA's mixed segmentation: `unit` characters and punctuation are tokens of their own,
    the runs between them are split on whitespace."""
    out: list[str] = []
    run = ""
    for ch in text:
        if unit.search(ch) or ch in PUNCT:
            out.extend(run.split())
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(run.split())
    return out


def qa_tokens(text: str, lang: str) -> list[str]:
    """The normalised tokens EM and F1 compare."""
    _check(lang)
    text = text.lower()
    if lang in _ELISION:
        text = _ELISION[lang].sub(r"\1 ", text)
    text = "".join(ch for ch in text if ch not in PUNCT)
    if lang in _ARTICLE_RE:
        text = _ARTICLE_RE[lang].sub(" ", text)
    tokens = mixed_segmentation(text, _SEGMENTED[lang]) if lang in _SEGMENTED else text.split()
    return [t for t in tokens if t.strip()]


def normalize_qa(text: str, lang: str) -> str:
    """MLQA's `normalize_answer`: the tokens joined by single spaces."""
    return " ".join(qa_tokens(text, lang))


def exact_match(prediction: str, gold: str, lang: str) -> float:
    return float(normalize_qa(prediction, lang) == normalize_qa(gold, lang))


def f1(prediction: str, gold: str, lang: str) -> float:
    """Token F1 of the normalised prediction against one gold answer (0 when nothing is shared,
    including an empty prediction)."""
    pred, ref = qa_tokens(prediction, lang), qa_tokens(gold, lang)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_scores(prediction: str, golds: Sequence[str], lang: str) -> tuple[float, float]:
    """(EM, F1), each the maximum over the gold answers, as SQuAD and MLQA score."""
    if isinstance(golds, str) or not golds:
        raise DataError("gold answers must be a non-empty sequence of strings")
    return (
        max(exact_match(prediction, g, lang) for g in golds),
        max(f1(prediction, g, lang) for g in golds),
    )


# Prefixes a model writes before its answer, in the languages xling prompts in.
_ANSWER_PREFIX = re.compile(
    r"^\s*(?:\*\*)?(?:answer|a|antwort|respuesta|réponse|risposta|răspuns|cevap|απάντηση|ответ|"
    r"الإجابة|الجواب|câu trả lời|trả lời|คำตอบ|答案|答|उत्तर|जवाब)(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'“”„‟‘’‚«»‹›「」『』《》〈〉＂`"


def clean_answer(generation: str) -> str:
    """The answer in a free-form generation: its first non-empty line, without a leading
    "Answer:" (in any prompt language), surrounding quotes, a final full stop, or a broken
    character left where the token limit cut a multi-byte character."""
    # A generation cut at its token limit can end inside a multi-byte character: drop the U+FFFD.
    line = next((ln.strip() for ln in generation.rstrip("\ufffd").splitlines() if ln.strip()), "")
    prev = None
    while prev != line:  # "Answer: "Kreuter"." needs more than one pass
        prev = line
        line = _ANSWER_PREFIX.sub("", line).strip()
        if len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
            line = line[1:-1].strip()
        line = line.rstrip("。.．").strip()
    return line

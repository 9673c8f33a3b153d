"""Reading-comprehension data in the SQuAD v1.1 JSON layout: SQuAD, XQuAD and MLQA files.

    {"version": "1.1", "data": [{"title": ..., "paragraphs": [{"context": ...,
      "qas": [{"id": ..., "question": ..., "answers": [{"answer_start": 12, "text": ...}]}]}]}]}

XQuAD releases one such file per language (`xquad.{lang}.json`) with question ids shared
across languages; MLQA one per (context language, question language) pair
(`{split}-context-{c}-question-{q}.json`), the context and gold answers in the context's
language. Every answer span is checked against its context at `answer_start`: a span that
does not match is an error naming the question id, never silently re-located.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from xling.data.languages import get_language
from xling.errors import DataError


@dataclasses.dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset in the context

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclasses.dataclass(frozen=True)
class QAExample:
    """One question about one context; `answers` are spans of `context`."""

    id: str
    title: str
    context: str
    question: str
    answers: tuple[Answer, ...]
    lang: str = ""  # of the file (XQuAD) or of the context (MLQA)


def _field(obj: Mapping, key: str, kind: type, where: str):
    if not isinstance(obj, Mapping) or key not in obj:
        raise DataError(f"{where}: missing field {key!r}")
    value = obj[key]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise DataError(f"{where}: field {key!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def parse_squad(obj: Mapping, *, source: str = "<data>", lang: str = "") -> list[QAExample]:
    """Examples of a parsed SQuAD v1.1 JSON object, spans checked, ids unique."""
    examples: list[QAExample] = []
    seen: set[str] = set()
    for a, article in enumerate(_field(obj, "data", list, source)):
        title = article.get("title", "") if isinstance(article, Mapping) else ""
        for p, para in enumerate(_field(article, "paragraphs", list, f"{source}: data[{a}]")):
            where = f"{source}: data[{a}].paragraphs[{p}]"
            context = _field(para, "context", str, where)
            for qa in _field(para, "qas", list, where):
                qid = str(_field(qa, "id", str, where))
                at = f"{source}: question {qid}"
                if qid in seen:
                    raise DataError(f"{at}: id appears twice")
                seen.add(qid)
                question = _field(qa, "question", str, at)
                answers = []
                for ans in _field(qa, "answers", list, at):
                    text = _field(ans, "text", str, at)
                    start = _field(ans, "answer_start", int, at)
                    if context[start : start + len(text)] != text:
                        found = context.find(text)
                        hint = (
                            f" (the text occurs at {found})"
                            if found >= 0
                            else " (nor anywhere in the context)"
                        )
                        raise DataError(
                            f"{at}: answer {text!r} does not match the context at answer_start={start}{hint}"
                        )
                    answers.append(Answer(text, start))
                if not answers:
                    raise DataError(f"{at}: no answers (SQuAD v2 unanswerable questions are not supported)")
                examples.append(QAExample(qid, str(title), context, question, tuple(answers), lang))
    if not examples:
        raise DataError(f"{source}: no questions")
    return examples


def load_squad(path: str | Path, lang: str = "") -> list[QAExample]:
    """A SQuAD v1.1-format file (SQuAD, one XQuAD language, one MLQA pair)."""
    path = Path(path).expanduser()
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a SQuAD JSON file ({e})") from None
    return parse_squad(obj, source=str(path), lang=lang)


_XQUAD_NAME = re.compile(r"^xquad\.([a-z]{2})\.json$")
_MLQA_NAME = re.compile(r"^(dev|test)-context-([a-z]{2})-question-([a-z]{2})\.json$")


def xquad_languages(directory: str | Path) -> list[str]:
    """Languages with an `xquad.{lang}.json` file in a directory, sorted."""
    directory = _directory(directory, "XQuAD")
    return sorted(m.group(1) for f in directory.iterdir() if (m := _XQUAD_NAME.match(f.name)))


def load_xquad(directory: str | Path, languages: Sequence[str] | None = None) -> dict[str, list[QAExample]]:
    """{lang: examples} from `xquad.{lang}.json` files; `languages` (default: all present) must
    each have a file. Ids are checked to be the same in every language (`align`)."""
    directory = _directory(directory, "XQuAD")
    present = xquad_languages(directory)
    wanted = present if languages is None else [get_language(code).code for code in languages]
    missing = [code for code in wanted if code not in present]
    if missing:
        have = ", ".join(present) or "none"
        raise DataError(f"{directory}: no XQuAD file for {', '.join(missing)} (have: {have})")
    if not wanted:
        raise DataError(f"{directory}: no xquad.{{lang}}.json files")
    by_lang = {code: load_squad(directory / f"xquad.{code}.json", lang=code) for code in wanted}
    align(by_lang)
    return by_lang


def align(by_lang: Mapping[str, Sequence[QAExample]]) -> list[str]:
    """The shared question ids, in the first language's order; an error naming an id that one
    language has and another lacks."""
    langs = list(by_lang)
    if not langs:
        raise DataError("no languages to align")
    ref = [e.id for e in by_lang[langs[0]]]
    ref_set = set(ref)
    for code in langs[1:]:
        ids = {e.id for e in by_lang[code]}
        extra, lacking = sorted(ids - ref_set), sorted(ref_set - ids)
        if extra or lacking:
            parts = (
                [f"question id {extra[0]} is in the {code} data but not in the {langs[0]} data"]
                if extra
                else []
            )
            if lacking:
                parts.append(f"question id {lacking[0]} is in the {langs[0]} data but not in the {code} data")
            more = len(extra) + len(lacking) - len(parts)
            tail = f" (and {more} more mismatched ids)" if more else ""
            raise DataError("; ".join(parts) + tail)
    return ref


def mlqa_pairs(directory: str | Path, split: str = "test") -> list[tuple[str, str]]:
    """(context lang, question lang) pairs with a file in an MLQA directory (or its `split`/
    subfolder, as released: MLQA_V1/test/test-context-de-question-en.json)."""
    root = _mlqa_root(directory, split)
    pairs = []
    for f in root.iterdir():
        m = _MLQA_NAME.match(f.name)
        if m and m.group(1) == split:
            pairs.append((m.group(2), m.group(3)))
    return sorted(pairs)


def load_mlqa(
    directory: str | Path, pairs: Iterable[tuple[str, str]] | None = None, split: str = "test"
) -> dict[tuple[str, str], list[QAExample]]:
    """{(context lang, question lang): examples}; every requested pair must have a file."""
    root = _mlqa_root(directory, split)
    present = mlqa_pairs(root, split)
    wanted = present if pairs is None else [(get_language(c).code, get_language(q).code) for c, q in pairs]
    missing = [f"{c}-{q}" for c, q in wanted if (c, q) not in present]
    if missing:
        raise DataError(f"{root}: no MLQA {split} file for context-question pair(s) {', '.join(missing)}")
    if not wanted:
        raise DataError(f"{root}: no {split}-context-*-question-*.json files")
    return {(c, q): load_squad(root / f"{split}-context-{c}-question-{q}.json", lang=c) for c, q in wanted}


def _directory(directory: str | Path, what: str) -> Path:
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise DataError(f"no {what} directory at {path}")
    return path


def _mlqa_root(directory: str | Path, split: str) -> Path:
    if split not in ("dev", "test"):
        raise DataError(f"MLQA split must be 'dev' or 'test', got {split!r}")
    path = _directory(directory, "MLQA")
    return path / split if (path / split).is_dir() else path

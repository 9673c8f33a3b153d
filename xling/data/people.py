"""The fictitious-people set (TOFU-like, written for xling): invented people with a short
biography and eight question/answer facts each, parallel in en, fr, de, es, it
(xling/data/fictitious/README.md). `load_people` checks a file as it reads it: every language
present, every answer a verbatim span of the same language's biography, numbers that agree
across languages, unique ids; a problem is a one-line error naming the person and fact."""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from pathlib import Path

from xling.errors import DataError

SHIPPED = Path(__file__).resolve().parent / "fictitious" / "people.jsonl"
LANGS = ("en", "fr", "de", "es", "it")


@dataclasses.dataclass(frozen=True)
class Fact:
    id: str
    question: dict[str, str]
    answer: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Person:
    id: str
    name: str
    biography: dict[str, str]
    facts: tuple[Fact, ...]


def _text(where: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: missing or empty text")
    if value != value.strip() or unicodedata.normalize("NFC", value) != value:
        raise DataError(f"{where}: text not stripped NFC")
    return value


def _langs(where: str, d, langs) -> dict[str, str]:
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected an object of languages, got {type(d).__name__}")
    missing = [lang for lang in langs if lang not in d]
    if missing:
        raise DataError(f"{where}: no {missing[0]} text")
    return {lang: _text(f"{where} {lang}", d[lang]) for lang in langs}


def load_people(path: str | Path = "", langs: tuple[str, ...] = LANGS) -> list[Person]:
    path = Path(path).expanduser() if path else SHIPPED
    if not path.is_file():
        raise DataError(f"no fictitious-people file at {path}")
    people, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not a JSON line ({e.msg})") from None
        pid = r.get("id")
        if not pid or pid in seen:
            raise DataError(f"{path}:{n}: missing or repeated person id {pid!r}")
        seen.add(pid)
        bio = _langs(f"{pid} biography", r.get("biography"), langs)
        facts = []
        for f in r.get("facts") or []:
            fid = f.get("id", "?")
            q = _langs(f"{fid} question", f.get("question"), langs)
            a = _langs(f"{fid} answer", f.get("answer"), langs)
            for lang in langs:
                if a[lang] not in bio[lang]:
                    raise DataError(f"{fid} {lang}: answer {a[lang]!r} is not in the biography")
            if any(x.isdigit() for x in a.values()) and len(set(a.values())) != 1:
                raise DataError(f"{fid}: the numeric answer differs across languages {a}")
            facts.append(Fact(fid, q, a))
        if not facts:
            raise DataError(f"{pid}: no facts")
        nums = {lang: sorted(set(re.findall(r"\d+", bio[lang]))) for lang in langs}
        for lang in langs:
            if nums[lang] != nums[langs[0]]:
                raise DataError(
                    f"{pid} biography {lang}: numbers {nums[lang]} differ from {langs[0]} {nums[langs[0]]}"
                )
        people.append(Person(pid, _text(f"{pid} name", r.get("name")), bio, tuple(facts)))
    if not people:
        raise DataError(f"{path}: no people")
    return people

"""Lexicon files: format detection and `load_lexicon` for the formats below.

`load_lexicon` reads four formats, detected from the file name and first line:

- "xling" (the bundled format), JSONL, one concept per line:
  `{"id": "dog", "pos": "noun", "words": {"en": ["dog"], "fr": ["chien"]}}`
  optional "distractors": {lang: [...]}; any other keys are kept in Concept.meta.
- "muse": facebookresearch/MUSE bilingual dictionaries (`dictionaries/fr-en.txt`), one
  whitespace-separated `source target` pair per line. Lines sharing a source word merge into
  one concept whose target words are all accepted; the id is the source word, pos is None.
  The languages come from the file name (`xx-yy*.txt`) or from src= and tgt=.
- "llm-latent-language": `data/langs/{lang}/clean.csv` of Wendler et al. 2024
  (github.com/epfl-dlab/llm-latent-language). Each row is an English word (`word_original`)
  and its translation (`word_translation`) into the row's `lang` (the column, else the
  folder name, else tgt=). Other columns (blank prompts, error) are ignored. Passing the
  `data/langs` folder merges every `*/clean.csv` into one multilingual lexicon keyed by the
  English word.
- "clwtd": word-translation records in the style of He et al. 2025 ("Semantic pivots"),
  JSON (a list, or an object holding a list under "data"/"records"/"concepts") or JSONL.
  The published schema is not available offline; this documented schema is accepted:
  `{"id": "dog", "pos": "noun", "en": "dog", "fr": "chien", "zh": ["狗"],
    "distractors": {"en": ["cat", ...], "fr": [...]}}`
  Every two-letter key other than "id" is a language code (a word or a list of words);
  "id" is optional (default: the English word, else "<lang>:<word>" of the first language,
  with ":2", ":3"... appended when a derived id repeats); other keys go to Concept.meta.

All words are NFC-normalised, stripped, and have inner whitespace runs collapsed to one space.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from xling.data.languages import LANGUAGES, get_language
from xling.data.lexicon import _RESERVED, Concept, Lexicon, _at, _lang_map, clean_word
from xling.errors import DataError

FORMATS = ("xling", "muse", "llm-latent-language", "clwtd")
_MUSE_NAME = re.compile(r"^([A-Za-z]{2})-([A-Za-z]{2})(?:[._-].*)?\.txt$")
_LATENT_COLUMNS = ("word_original", "word_translation")


def _first_line(path: Path) -> str | None:
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                return line.strip()
    return None


def _is_latent_header(line: str) -> bool:
    header = next(csv.reader([line]), [])
    return all(col in (h.strip() for h in header) for col in _LATENT_COLUMNS)


def detect_format(path: str | os.PathLike[str]) -> str:
    """Which of FORMATS a lexicon file (or llm-latent-language folder) is in."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such lexicon file: {path}")
    if path.is_dir():
        if (path / "clean.csv").exists() or any(path.glob("*/clean.csv")):
            return "llm-latent-language"
        raise DataError(f"{path} is a folder with no clean.csv files in it (llm-latent-language layout)")
    first = _first_line(path)
    if first is None:
        raise DataError(f"{path}: empty lexicon file")
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl") or first.startswith(("{", "[")):
        records = _json_records(path)
        if not records:
            raise DataError(f"{path}: empty lexicon (no records)")
        where, record = records[0]
        if not isinstance(record, Mapping):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        return "xling" if "words" in record else "clwtd"
    if suffix == ".csv" or _is_latent_header(first):
        if not _is_latent_header(first):
            raise DataError(
                f"{path}: CSV header has no {' and '.join(_LATENT_COLUMNS)} columns "
                f"(the llm-latent-language format); header: {first[:120]!r}"
            )
        return "llm-latent-language"
    if len(first.split()) == 2:
        return "muse"
    raise DataError(
        f"{path}: cannot tell the lexicon format from its name and first line {first[:80]!r}; "
        f"pass format= one of {', '.join(FORMATS)}"
    )


def _json_records(path: Path) -> list[tuple[str, Any]]:
    """(location, parsed value) per record of a JSON array/container file or of a JSONL file."""
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("[") or path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if not text.lstrip().startswith("{"):
                raise DataError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
            data = None  # one object per line: JSONL under a .json name
        if data is not None:
            if isinstance(data, Mapping):
                data = next((data[k] for k in ("data", "records", "concepts") if k in data), [data])
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a list of records, got {type(data).__name__}")
            return [(f"{path}: record {i + 1}", r) for i, r in enumerate(data)]
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append((f"{path}:{lineno}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: malformed JSON line: {e.msg}") from None
    return records


def _record(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DataError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _load_xling(path: Path, src: str | None, tgt: str | None) -> list[tuple[str, Concept]]:
    out = []
    for where, value in _json_records(path):
        with _at(where):
            rec = _record(value)
            for key in ("id", "words"):
                if key not in rec:
                    raise DataError(f"record has no {key!r} key (keys: {', '.join(map(str, rec))})")
            meta = {k: v for k, v in rec.items() if k not in _RESERVED}
            concept = Concept(rec["id"], rec.get("pos"), rec["words"], rec.get("distractors") or {}, meta)
        out.append((where, concept))
    return out


def _load_clwtd(path: Path, src: str | None, tgt: str | None) -> list[tuple[str, Concept]]:
    out, derived_seen = [], set()
    records = _json_records(path)
    explicit = {str(r["id"]) for _, r in records if isinstance(r, Mapping) and r.get("id") is not None}
    for where, value in records:
        with _at(where):
            rec = _record(value)
            if "words" in rec:
                raise DataError("record has a 'words' key: that is the xling format, pass format='xling'")
            words = {k: v for k, v in rec.items() if isinstance(k, str) and len(k) == 2 and k != "id"}
            meta = {k: v for k, v in rec.items() if k not in words and k not in _RESERVED}
            cid = rec.get("id")
            if cid is None:
                parsed = _lang_map(words, "words")
                first = "en" if parsed.get("en") else next((k for k, v in parsed.items() if v), None)
                if first is None:
                    raise DataError("record has no words")
                base = parsed[first][0] if first == "en" else f"{first}:{parsed[first][0]}"
                cid, n = base, 2
                while cid in derived_seen or cid in explicit:  # derived ids never clash
                    cid, n = f"{base}:{n}", n + 1
                derived_seen.add(cid)
            concept = Concept(str(cid), rec.get("pos"), words, rec.get("distractors") or {}, meta)
        out.append((where, concept))
    return out


def _muse_languages(path: Path, src: str | None, tgt: str | None) -> tuple[str, str]:
    named = None
    if m := _MUSE_NAME.match(path.name):
        try:
            named = (get_language(m[1]).code, get_language(m[2]).code)
        except DataError as e:
            if not (src and tgt):  # a name like "my-list.txt" is not a language pair when src/tgt say so
                raise DataError(f"{path}: {e}") from None
    if named and (src or named[0], tgt or named[1]) != named:
        raise DataError(
            f"{path}: the file name says {named[0]}-{named[1]} but src/tgt say {src or '?'}-{tgt or '?'}"
        )
    s, t = named or (src, tgt)
    if not (s and t):
        raise DataError(
            f"{path}: cannot tell the languages of a MUSE dictionary; name it like fr-en.txt "
            "or set its languages (--config.data.src=fr --config.data.tgt=en; in Python src=, tgt=)"
        )
    if s == t:
        raise DataError(f"{path}: source and target language are both {s}")
    return s, t


def _load_muse(path: Path, src: str | None, tgt: str | None) -> list[tuple[str, Concept]]:
    s, t = _muse_languages(path, src, tgt)
    targets: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise DataError(
                    f"{path}:{lineno}: expected 'source target' (2 whitespace-separated words), "
                    f"got {len(parts)}: {line.strip()[:80]!r}"
                )
            word, translation = clean_word(parts[0]), clean_word(parts[1])
            targets.setdefault(word, []).append(translation)
            first_line.setdefault(word, lineno)
    out = []
    for word, trans in targets.items():
        where = f"{path}:{first_line[word]}"
        with _at(where):
            out.append((where, Concept(word, None, {s: (word,), t: tuple(trans)})))
    return out


def _latent_rows(path: Path, tgt: str | None) -> Iterator[tuple[str, str, str, str]]:
    """(location, lang, English word, translation) per row of one clean.csv."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        if missing := [c for c in _LATENT_COLUMNS if c not in columns]:
            raise DataError(
                f"{path}: CSV has no column(s) {', '.join(missing)} "
                f"(llm-latent-language needs {' and '.join(_LATENT_COLUMNS)})"
            )
        reader.fieldnames = columns
        fallback = None
        if "lang" not in columns:
            folder = path.parent.name
            if tgt:
                fallback = tgt
            elif folder.lower() in LANGUAGES:
                fallback = folder.lower()
            else:
                raise DataError(
                    f"{path}: no 'lang' column and the folder name {folder!r} is not a language code; "
                    "pass tgt="
                )
        for row in reader:
            where = f"{path}:{reader.line_num}"
            with _at(where):
                if None in row:
                    raise DataError(f"row has more fields than the header ({len(columns)})")
                lang = get_language((row.get("lang") or "").strip() or fallback or "").code
                yield where, lang, _cell(row, "word_original"), _cell(row, "word_translation")


def _cell(row: Mapping[str, str | None], column: str) -> str:
    value = clean_word(row.get(column) or "")
    if not value:
        raise DataError(f"empty {column}")
    return value


def _load_latent(path: Path, src: str | None, tgt: str | None) -> list[tuple[str, Concept]]:
    if path.is_file():
        files = [path]
    else:
        files = sorted(path.glob("*/clean.csv"))
        if (path / "clean.csv").exists():
            files.insert(0, path / "clean.csv")
    words: dict[str, dict[str, list[str]]] = {}
    first_at: dict[str, str] = {}
    for file in files:
        # tgt names the language of a lone file without a lang column; a folder's files name theirs.
        for where, lang, english, translation in _latent_rows(file, tgt if path.is_file() else None):
            entry = words.setdefault(english, {"en": [english]})
            entry.setdefault(lang, []).append(translation)
            first_at.setdefault(english, where)
    out = []
    for english, by_lang in words.items():
        with _at(first_at[english]):
            out.append((first_at[english], Concept(english, None, {k: tuple(v) for k, v in by_lang.items()})))
    return out


_LOADERS: dict[str, Callable[[Path, str | None, str | None], list[tuple[str, Concept]]]] = {
    "xling": _load_xling,
    "muse": _load_muse,
    "llm-latent-language": _load_latent,
    "clwtd": _load_clwtd,
}


def load_lexicon(
    path: str | os.PathLike[str],
    *,
    src: str | None = None,
    tgt: str | None = None,
    format: str | None = None,
) -> Lexicon:
    """Load a lexicon, detecting its format (see the module docstring) unless `format` is given.

    src/tgt name the languages of a MUSE file whose name does not, and, when given, keep
    only the concepts having words in them (an error if none do).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such lexicon file: {path}")
    if format is not None and format not in _LOADERS:
        raise DataError(f"unknown lexicon format {format!r}; known formats: {', '.join(FORMATS)}")
    s = get_language(src).code if src is not None else None
    t = get_language(tgt).code if tgt is not None else None
    fmt = format or detect_format(path)
    if path.is_dir() and fmt != "llm-latent-language":
        raise DataError(f"{path} is a folder; only the llm-latent-language format reads folders")
    entries = _LOADERS[fmt](path, s, t)
    seen: dict[str, str] = {}
    for where, concept in entries:
        if concept.id in seen:
            raise DataError(f"{where}: duplicate concept id {concept.id!r} (first at {seen[concept.id]})")
        seen[concept.id] = where
    if not entries:
        raise DataError(f"{path}: empty lexicon (no concepts)")
    lexicon = Lexicon((c for _, c in entries), name=path.stem if path.is_file() else path.name)
    return _restrict(lexicon, s, t)


def _restrict(lexicon: Lexicon, src: str | None, tgt: str | None) -> Lexicon:
    if src and tgt:
        return lexicon.pairs(src, tgt)
    lang = src or tgt
    if lang is None:
        return lexicon
    sub = lexicon.filter(lambda c: lang in c.words)
    if not len(sub):
        raise DataError(
            f"lexicon {lexicon.name!r} has no {lang} words (it has {' '.join(lexicon.languages)})"
        )
    return sub

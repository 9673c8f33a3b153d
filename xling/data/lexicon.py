"""Multilingual lexicons: concepts with accepted words per language, and loaders for common formats.

A Concept is one meaning ("dog") with, per language, a tuple of words: the first is the
canonical form used to build prompts, the rest are synonyms also accepted as correct.
CLWTD-style records may add distractors (wrong answers) per language.

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
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.data.languages import LANGUAGES, get_language
from xling.errors import DataError

FORMATS = ("xling", "muse", "llm-latent-language", "clwtd")
_RESERVED = ("id", "pos", "words", "distractors")
_MUSE_NAME = re.compile(r"^([A-Za-z]{2})-([A-Za-z]{2})(?:[._-].*)?\.txt$")
_LATENT_COLUMNS = ("word_original", "word_translation")


def clean_word(word: Any) -> str:
    """NFC-normalise a word, strip it and collapse inner whitespace; '' if nothing is left."""
    if not isinstance(word, str):
        raise DataError(f"a word must be a string, got {type(word).__name__} {word!r}")
    return " ".join(unicodedata.normalize("NFC", word).split())


def _word_tuple(value: Any, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise DataError(f"{what} must be a word or a list of words, got {type(value).__name__}")
    words = (clean_word(w) for w in items)
    return tuple(dict.fromkeys(w for w in words if w))  # drop blanks and repeats, keep order


def _lang_map(value: Any, what: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise DataError(f"{what} must map language codes to words, got {type(value).__name__}")
    out: dict[str, tuple[str, ...]] = {}
    for key, words in value.items():
        code = get_language(key).code
        if code in out:
            raise DataError(f"{what} lists language {code!r} twice")
        out[code] = _word_tuple(words, f"{what}[{key!r}]")
    return out


@dataclass(frozen=True)
class Concept:
    """One meaning with its words per language; words[lang][0] is canonical, the rest synonyms."""

    id: str
    pos: str | None
    words: Mapping[str, tuple[str, ...]]
    distractors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Normalising here, not only in the loaders, keeps hand-built concepts comparable to loaded ones.
        cid = clean_word(self.id) if isinstance(self.id, str) else ""
        if not cid:
            raise DataError(f"a concept id must be a non-empty string, got {self.id!r}")
        name = f"concept {cid!r}"
        if self.pos is not None and not isinstance(self.pos, str):
            raise DataError(f"{name}: pos must be a string or null, got {self.pos!r}")
        pos = clean_word(self.pos).lower() if self.pos else ""
        words = _lang_map(self.words, f"{name}: words")
        if not words:
            raise DataError(f"{name} has no words")
        for lang, ws in words.items():
            if not ws:
                raise DataError(f"{name} has an empty word list for {lang}")
        distractors = {k: v for k, v in _lang_map(self.distractors, f"{name}: distractors").items() if v}
        for lang, ds in distractors.items():
            if lang not in words:
                raise DataError(f"{name} has distractors for {lang} but no {lang} word")
            if clash := set(ds) & set(words[lang]):
                raise DataError(f"{name}: {lang} distractor(s) {sorted(clash)} are also accepted words")
        if not isinstance(self.meta, Mapping):
            raise DataError(f"{name}: meta must be a mapping, got {type(self.meta).__name__}")
        if clash := set(self.meta) & set(_RESERVED):
            raise DataError(f"{name}: meta keys {sorted(clash)} are reserved")
        object.__setattr__(self, "id", cid)
        object.__setattr__(self, "pos", pos or None)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "distractors", distractors)
        object.__setattr__(self, "meta", dict(self.meta))

    def __hash__(self) -> int:  # the dict fields are unhashable; equal concepts share an id
        return hash(self.id)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.words)

    def has(self, *langs: str) -> bool:
        """Whether the concept has words in every one of `langs`."""
        return all(get_language(lang).code in self.words for lang in langs)

    def accepted(self, lang: str) -> tuple[str, ...]:
        """All accepted words in `lang`, canonical first."""
        code = get_language(lang).code
        if code not in self.words:
            raise DataError(f"concept {self.id!r} has no {code} word (it has {' '.join(self.words)})")
        return self.words[code]

    def word(self, lang: str) -> str:
        """The canonical word in `lang`."""
        return self.accepted(lang)[0]

    def to_record(self) -> dict[str, Any]:
        """The concept as one xling JSONL record."""
        record: dict[str, Any] = {"id": self.id, "pos": self.pos}
        record["words"] = {lang: list(ws) for lang, ws in self.words.items()}
        if self.distractors:
            record["distractors"] = {lang: list(ds) for lang, ds in self.distractors.items()}
        return record | dict(self.meta)


class Lexicon:
    """An ordered collection of concepts with unique ids."""

    def __init__(self, concepts: Iterable[Concept], *, name: str = "lexicon"):
        self.name = name
        self._concepts = tuple(concepts)
        self._by_id: dict[str, Concept] = {}
        for c in self._concepts:
            if not isinstance(c, Concept):
                raise DataError(f"lexicon {name!r}: expected Concept objects, got {type(c).__name__}")
            if c.id in self._by_id:
                raise DataError(f"lexicon {name!r}: duplicate concept id {c.id!r}")
            self._by_id[c.id] = c

    def __len__(self) -> int:
        return len(self._concepts)

    def __iter__(self) -> Iterator[Concept]:
        return iter(self._concepts)

    def __getitem__(self, key: int | str) -> Concept:
        """A concept by position (int) or by id (str)."""
        if isinstance(key, int):
            return self._concepts[key]
        if key not in self._by_id:
            raise DataError(f"lexicon {self.name!r} has no concept {key!r}")
        return self._by_id[key]

    def __contains__(self, key: object) -> bool:
        cid = key.id if isinstance(key, Concept) else key
        return isinstance(cid, str) and cid in self._by_id

    def __repr__(self) -> str:
        return f"Lexicon({self.name!r}, {len(self)} concepts, languages={' '.join(self.languages)})"

    @property
    def concepts(self) -> tuple[Concept, ...]:
        return self._concepts

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language with at least one word, in order of first appearance."""
        return tuple(dict.fromkeys(lang for c in self._concepts for lang in c.words))

    @property
    def pos_tags(self) -> tuple[str | None, ...]:
        return tuple(dict.fromkeys(c.pos for c in self._concepts))

    def coverage(self) -> dict[str, int]:
        """How many concepts have words in each language."""
        counts = dict.fromkeys(self.languages, 0)
        for c in self._concepts:
            for lang in c.words:
                counts[lang] += 1
        return counts

    def filter(self, keep: Callable[[Concept], bool], *, name: str | None = None) -> Lexicon:
        """The concepts for which keep(concept) is true, in order; may be empty."""
        return Lexicon((c for c in self._concepts if keep(c)), name=name or self.name)

    def pairs(self, src: str, tgt: str) -> Lexicon:
        """The concepts that have words in both `src` and `tgt` (raises if there are none)."""
        s, t = get_language(src).code, get_language(tgt).code
        sub = self.filter(lambda c: s in c.words and t in c.words, name=f"{self.name}[{s}-{t}]")
        if not len(sub):
            cov = self.coverage()
            raise DataError(
                f"lexicon {self.name!r} has no concept with both {s} and {t} "
                f"({s} in {cov.get(s, 0)}, {t} in {cov.get(t, 0)} of {len(self)} concepts)"
            )
        return sub

    def word_pairs(self, src: str, tgt: str) -> list[tuple[str, tuple[str, ...]]]:
        """(canonical src word, accepted tgt words) for every concept having both languages."""
        s, t = get_language(src).code, get_language(tgt).code
        return [(c.words[s][0], c.words[t]) for c in self.pairs(s, t)]

    def by_pos(self, pos: str) -> Lexicon:
        """The concepts with this part of speech (raises if there are none)."""
        want = clean_word(pos).lower()
        sub = self.filter(lambda c: c.pos == want, name=f"{self.name}[{want}]")
        if not len(sub):
            tags = " ".join(str(p) for p in self.pos_tags)
            raise DataError(f"lexicon {self.name!r} has no concept with pos {want!r} (it has: {tags})")
        return sub

    def require(self, langs: str | Iterable[str]) -> Lexicon:
        """Check that every concept has words in each of `langs`; returns self for chaining."""
        codes = [get_language(lang).code for lang in ([langs] if isinstance(langs, str) else langs)]
        gaps = []
        for code in dict.fromkeys(codes):
            missing = [c.id for c in self._concepts if code not in c.words]
            if missing:
                some = ", ".join(repr(i) for i in missing[:3]) + (", ..." if len(missing) > 3 else "")
                count = f"all {len(self)}" if len(missing) == len(self) else f"{len(missing)} of {len(self)}"
                gaps.append(f"{code} in {count} concepts (e.g. {some})")
        if gaps:
            raise DataError(
                f"lexicon {self.name!r} lacks "
                + "; ".join(gaps)
                + " — use .pairs(src, tgt) to keep complete ones"
            )
        return self

    def to_jsonl(self, path: str | os.PathLike[str]) -> None:
        """Write the lexicon in the xling JSONL format."""
        with open(path, "w", encoding="utf-8") as f:
            for c in self._concepts:
                f.write(json.dumps(c.to_record(), ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# Loading


@contextmanager
def _at(where: str) -> Iterator[None]:
    """Prefix DataErrors raised inside with a location such as 'file.jsonl:12'."""
    try:
        yield
    except DataError as e:
        raise DataError(f"{where}: {e}") from None


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


def merge_lexicons(lexicons: Iterable[Lexicon], *, name: str = "lexicon") -> Lexicon:
    """One lexicon from several: concepts sharing an id merge their languages and synonyms.

    Concepts with the same id must agree on pos (or leave it None), on the canonical word of
    every language both have, and on shared meta keys; a disagreement is an error, since it
    usually means two sources meant different senses.
    """
    merged: dict[str, Concept] = {}
    origin: dict[str, str] = {}
    for lex in lexicons:
        for c in lex:
            if c.id not in merged:
                merged[c.id], origin[c.id] = c, lex.name
                continue
            old, where = merged[c.id], f"concept {c.id!r} ({origin[c.id]!r} vs {lex.name!r})"
            if old.pos and c.pos and old.pos != c.pos:
                raise DataError(f"{where}: pos {old.pos!r} vs {c.pos!r}")
            words = {k: list(v) for k, v in old.words.items()}
            for lang, ws in c.words.items():
                if lang in words and words[lang][0] != ws[0]:
                    raise DataError(f"{where}: {lang} canonical word {words[lang][0]!r} vs {ws[0]!r}")
                words.setdefault(lang, []).extend(ws)
            distractors = {k: list(v) for k, v in old.distractors.items()}
            for lang, ds in c.distractors.items():
                distractors.setdefault(lang, []).extend(ds)
            for key in set(old.meta) & set(c.meta):
                if old.meta[key] != c.meta[key]:
                    raise DataError(f"{where}: meta {key!r} differs")
            with _at(where):
                merged[c.id] = Concept(
                    c.id, old.pos or c.pos, words, distractors, dict(old.meta) | dict(c.meta)
                )
    return Lexicon(merged.values(), name=name)

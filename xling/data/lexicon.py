"""Multilingual lexicons: concepts with accepted words per language, and loaders for common formats.

The file formats (xling JSONL, MUSE, llm-latent-language, CLWTD), their detection and
`load_lexicon` are in `xling.data.lexicon_formats`. All words are NFC-normalised, stripped,
and have inner whitespace runs collapsed to one space.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from xling.data.languages import get_language
from xling.errors import DataError

_RESERVED = ("id", "pos", "words", "distractors")


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


@contextmanager
def _at(where: str) -> Iterator[None]:
    """Prefix DataErrors raised inside with a location such as 'file.jsonl:12'."""
    try:
        yield
    except DataError as e:
        raise DataError(f"{where}: {e}") from None


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

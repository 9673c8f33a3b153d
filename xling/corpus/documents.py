"""Sharded document corpora: Dolma-style JSONL shards and per-document language identification.

A shard is a JSONL file (optionally gzip-compressed, `.jsonl.gz`) with one document per line:
`{"text": ..., "id": ...}` plus any other fields; `lang` (or Dolma's `metadata.lang`), when
present, is the document's language and is trusted. A document without one is identified
with `identify_document`. Documents come out as `Document(id, text, lang, source)`; an id
missing from the line becomes `{shard name}:{line number}`, so every document has a stable
name whatever order the shards are read in.

Bad input fails with the file and line number (a malformed line, a line that is not an
object, a missing or non-string `text`, an id seen twice); nothing is skipped silently.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import regex

from xling.data.languages import get_language
from xling.errors import DataError
from xling.metrics.langid import identify, language_scripts, letter_scripts
from xling.workdir import expand_files


@dataclasses.dataclass(frozen=True)
class Document:
    id: str
    text: str
    lang: str | None  # None: undecided
    source: str = ""  # the shard (file name) it came from


def _open(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _lang_field(obj: dict) -> str | None:
    lang = obj.get("lang")
    if lang is None and isinstance(obj.get("metadata"), dict):
        lang = obj["metadata"].get("lang")
    return lang if isinstance(lang, str) and lang else None


def read_shard(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-empty line of one JSONL shard."""
    path = Path(path)
    with _open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{number}: malformed JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
            if not isinstance(obj.get("text"), str):
                raise DataError(f"{path}:{number}: no string 'text' field")
            yield number, obj


def read_documents(
    patterns: str | Sequence[str], *, languages: Sequence[str] = (), min_confidence: float = 0.5
) -> Iterator[Document]:
    """Documents of every shard matching `patterns` (comma-separated or a list; globs allowed),
    shard by shard in sorted order. A document without a language field gets the one
    `identify_document` finds among `languages` (None without candidates or when undecided)."""
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p.strip()]
    files = expand_files(list(patterns))
    if not files:
        raise DataError("no corpus shards given")
    seen: set[str] = set()
    for path in files:
        if not path.name.endswith((".jsonl", ".jsonl.gz")):
            raise DataError(f"{path}: a corpus shard must be .jsonl or .jsonl.gz")
        for number, obj in read_shard(path):
            doc_id = str(obj["id"]) if obj.get("id") is not None else f"{path.name}:{number}"
            if doc_id in seen:
                raise DataError(f"{path}:{number}: document id {doc_id!r} appears twice")
            seen.add(doc_id)
            lang = _lang_field(obj)
            if lang is None and languages:
                lang = identify_document(obj["text"], languages, min_confidence=min_confidence)
            yield Document(doc_id, obj["text"], lang, path.name)


def identify_document(
    text: str, candidates: Iterable[str], *, min_confidence: float = 0.5, max_chars: int = 2000
) -> str | None:
    """The candidate language a document is in, or None when undecided.

    Unlike a short answer (`xling.metrics.langid.identify`, which needs every letter in the
    language's script), a document may quote a name or a word in another script: the script
    holding most of its letters picks the candidates, then lingua decides among those that
    write it (zh vs ja, en vs fr vs de ...), above `min_confidence`.
    """
    codes = sorted({get_language(c).code for c in candidates})
    if not codes:
        raise DataError("no candidate languages to identify documents in")
    text = text[:max_chars]  # the opening says enough, and lingua's time grows with length
    scripts = letter_scripts(text)
    if not scripts:
        return None
    dominant = scripts.most_common(1)[0][0]
    writing = [c for c in codes if dominant in language_scripts(c)]
    if not writing:
        return None
    if len(writing) == 1:
        return writing[0]
    return identify(_only_script(text, writing), writing, min_confidence=min_confidence).lang


def _only_script(text: str, codes: Sequence[str]) -> str:
    """The text with letters outside the candidates' scripts blanked, so that lingua (and the
    strict script check before it) sees the language the document is written in."""
    allowed = "".join(rf"\p{{scx={s}}}" for c in codes for s in language_scripts(c))
    return regex.sub(rf"(?![{allowed}])\p{{L}}", " ", text)

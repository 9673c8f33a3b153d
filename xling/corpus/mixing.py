"""Mixed-language training text from parallel corpora (Chua et al. 2025's fix): every unit of
a document (the whole document, each sentence, or each 8-word chunk) rendered in one language
drawn from `languages` (seeded).

A parallel corpus here is a list of aligned documents, each a list of aligned sentences:
`doc[i][lang]` is sentence i in `lang` (`aligned_documents` reads JSONL rows such as
xling's parallel sentences, `{"id", "en": ..., "fr": ...}`, grouping rows into documents by
a field). Granularities:

- "document": one language per document.
- "sentence": one language per sentence.
- "chunk": the English sentence is cut into chunks of `chunk_words` words, and each chunk is
  rendered in one language. Chunk-aligned translations are not in a sentence-aligned corpus
  (the paper machine-translated each chunk), so chunk k of an English sentence of n words is
  aligned with the same share of the translation's words: words [k * m / n, (k + 8) * m / n)
  of a translation of m words, rounded. This is exact at sentence boundaries and close
  within them for these word-order-similar languages; it is an approximation, and the
  switch points can fall inside a phrase.

Randomness: `numpy.random.default_rng([seed, document index])`, one draw per unit in order,
so a document's rendering does not depend on the others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xling.errors import DataError

GRANULARITIES = ("document", "sentence", "chunk")
LANGS = ("en", "fr", "de", "es", "it")


def aligned_documents(
    path: str | Path, group_by: str | None = None, langs: Sequence[str] = LANGS
) -> list[list[dict]]:
    """Documents of aligned sentences from a JSONL file: one sentence per row, grouped into
    documents by `group_by` (consecutive rows sharing it), or one row per document."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no parallel corpus at {path}")
    docs: list[list[dict]] = []
    last = object()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [lang for lang in langs if not str(row.get(lang, "")).strip()]
        if missing:
            raise DataError(f"{path}:{n}: the units do not align: no {missing[0]} text")
        key = row.get(group_by) if group_by else object()
        if not docs or key != last:
            docs.append([])
        docs[-1].append({lang: row[lang] for lang in langs})
        last = key
    return docs


def mix_document(doc: Sequence[dict], granularity: str, languages: Sequence[str], rng: np.random.Generator,
                 chunk_words: int = 8) -> tuple[str, list[str]]:  # fmt: skip
    """(text, the language of each unit)."""
    if granularity not in GRANULARITIES:
        raise DataError(f"unknown granularity {granularity!r} (known: {', '.join(GRANULARITIES)})")
    for i, sentence in enumerate(doc):
        missing = [lang for lang in languages if not sentence.get(lang)]
        if missing:
            raise DataError(f"sentence {i}: the units do not align: no {missing[0]} text")

    def pick() -> str:
        return languages[int(rng.integers(len(languages)))]

    if granularity == "document":
        lang = pick()
        return " ".join(s[lang] for s in doc), [lang]
    if granularity == "sentence":
        langs = [pick() for _ in doc]
        return " ".join(s[lang] for s, lang in zip(doc, langs, strict=True)), langs
    if "en" not in doc[0]:
        raise DataError("chunk granularity cuts the English text; the corpus has no en")
    parts, langs = [], []
    for s in doc:
        words = {lang: s[lang].split() for lang in languages} | {"en": s["en"].split()}
        n = len(words["en"])
        for a in range(0, n, chunk_words):
            b, lang = min(a + chunk_words, n), pick()
            m = len(words[lang])  # the same share of the rendering language's words
            parts += words[lang][round(a * m / n) : round(b * m / n)]
            langs.append(lang)
    return " ".join(parts), langs


def mix_corpus(docs: Sequence[Sequence[dict]], granularity: str, languages: Sequence[str] = LANGS, seed: int = 0,
               chunk_words: int = 8) -> list[tuple[str, list[str]]]:  # fmt: skip
    """Every document mixed at `granularity` (see the module docstring)."""
    if chunk_words < 1:
        raise DataError(f"chunk_words must be >= 1, got {chunk_words}")
    return [
        mix_document(doc, granularity, tuple(languages), np.random.default_rng([seed, i]), chunk_words)
        for i, doc in enumerate(docs)
    ]

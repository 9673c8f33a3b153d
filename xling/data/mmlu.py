"""Four-option multiple-choice data as released: MMLU, OpenAI's MMMLU, the Harry Potter quiz; and TOFU.

Each is read in its published layout, so a result on xling's small shipped set and one on the
real benchmark go through the same code:

- MMLU (Hendrycks et al.): `data/{split}/{subject}_{split}.csv`, no header, columns question,
  A, B, C, D, answer. Ids are `{subject}-{split}-{row:04d}`.
- MMMLU (OpenAI): one `mmlu_{LOCALE}.csv` per language with header Question,A,B,C,D,Answer,
  Subject (as released, after an unnamed index column). Rows follow MMLU's test order, so the
  k-th row of a subject gets the id of the k-th English row and `align` can check them row by
  row. `mmlu_{LOCALE}_dev.csv` in the same layout is xling's extension for translated demos.
- The Harry Potter quiz (cross-ling-know/HarryPotter-Quiz): `data/{Language}-*.parquet`, or the
  same records as `{Language}.json` / `.jsonl`, columns question, A, B, C, D, GT (a letter).
- TOFU (locuslab/TOFU): JSON lines of {"question", "answer"}.

Every answer must be a letter A-D and every row must have its columns: a bad row is an error
naming the file and line, never skipped, because a silently shorter subject shifts the row-by-
row alignment of every later question.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from xling.data.languages import get_language
from xling.errors import DataError

LETTERS = ("A", "B", "C", "D")
SHIPPED_MC = Path(__file__).parent / "mc"
SHIPPED_LANGUAGES = ("en", "fr", "de", "es", "it")

# MMMLU's file locales, keyed by ISO 639-1 code. English has no file: it is MMLU itself.
LOCALES: dict[str, str] = {
    "ar": "AR_XA",
    "bn": "BN_BD",
    "de": "DE_DE",
    "es": "ES_LA",
    "fr": "FR_FR",
    "hi": "HI_IN",
    "id": "ID_ID",
    "it": "IT_IT",
    "ja": "JA_JP",
    "ko": "KO_KR",
    "pt": "PT_BR",
    "sw": "SW_KE",
    "yo": "YO_NG",
    "zh": "ZH_CN",
}
MMMLU_HEADER = ("Question", "A", "B", "C", "D", "Answer", "Subject")
HP_LANGUAGES = {"en": "English", "fr": "French", "de": "German", "it": "Italian", "es": "Spanish"}


@dataclasses.dataclass(frozen=True)
class MCItem:
    """One four-option question; `answer` is the letter of the correct choice."""

    id: str
    subject: str
    split: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # "A".."D"
    lang: str

    @property
    def answer_index(self) -> int:
        return LETTERS.index(self.answer)

    @property
    def answer_text(self) -> str:
        return self.choices[self.answer_index]


@dataclasses.dataclass(frozen=True)
class QAPair:
    """One TOFU question with its free-text answer."""

    question: str
    answer: str


def _item(values: list[str], where: str, subject: str, split: str, k: int, lang: str) -> MCItem:
    question, a, b, c, d, answer = values
    if answer not in LETTERS:
        raise DataError(f"{where}: answer {answer!r} is not one of A, B, C, D")
    return MCItem(f"{subject}-{split}-{k:04d}", subject, split, question, (a, b, c, d), answer, lang)


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(first line number, fields) of every non-empty CSV record; strict quoting, so a stray
    quote is an error rather than a silently merged row."""
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, strict=True)
            line = 1
            try:
                for row in reader:
                    if row:
                        rows.append((line, row))
                    line = reader.line_num + 1
            except csv.Error as e:
                raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    return rows


def _wanted(present: Mapping[str, Any], subjects: Iterable[str] | str | None, where: str) -> list[str]:
    if subjects is None:
        return list(present)
    wanted = [subjects] if isinstance(subjects, str) else list(subjects)
    missing = [s for s in wanted if s not in present]
    if missing:
        raise DataError(f"{where}: no subject {', '.join(missing)} (have: {', '.join(present)})")
    return wanted


def _directory(path: str | Path, what: str) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"no {what} directory at {root}")
    return root


def load_hendrycks(
    path: str | Path, split: str = "test", subjects: Iterable[str] | str | None = None
) -> dict[str, list[MCItem]]:
    """{subject: items} of MMLU as released; `path` is the release folder or its `data/`."""
    if split not in ("dev", "val", "test"):
        raise DataError(f"MMLU split must be 'dev', 'val' or 'test', got {split!r}")
    root = _directory(path, "MMLU")
    folder = next((d for d in (root / "data" / split, root / split) if d.is_dir()), None)
    if folder is None:
        raise DataError(f"{root}: no data/{split}/ or {split}/ folder of {{subject}}_{split}.csv files")
    suffix = f"_{split}.csv"
    present = {f.name[: -len(suffix)]: f for f in sorted(folder.glob(f"*{suffix}"))}
    if not present:
        raise DataError(f"{folder}: no *{suffix} files")
    out: dict[str, list[MCItem]] = {}
    for subject in _wanted(present, subjects, str(folder)):
        file = present[subject]
        items = []
        for line, row in _csv_rows(file):
            where = f"{file}: line {line}"
            if len(row) != 6:
                raise DataError(f"{where}: {len(row)} columns, expected 6 (question, A, B, C, D, answer)")
            items.append(_item(row, where, subject, split, len(items), "en"))
        if not items:
            raise DataError(f"{file}: no questions")
        out[subject] = items
    return out


def mmmlu_locale(lang_or_locale: str) -> tuple[str, str]:
    """(ISO code, MMMLU locale) for "fr", "FR_FR" or "fr_FR"."""
    key = lang_or_locale.strip()
    if key.lower() in LOCALES:
        return key.lower(), LOCALES[key.lower()]
    locale = key.upper().replace("-", "_")
    for code, known in LOCALES.items():
        if known == locale:
            return code, known
    if key.lower() == "en":
        raise DataError("MMMLU has no English file: English MMMLU is MMLU itself (use load_hendrycks)")
    table = " ".join(f"{c}={loc}" for c, loc in LOCALES.items())
    raise DataError(f"no MMMLU locale for {lang_or_locale!r}; known: {table}")


def load_mmmlu(
    path: str | Path,
    lang_or_locale: str,
    subjects: Iterable[str] | str | None = None,
    split: str = "test",
) -> dict[str, list[MCItem]]:
    """{subject: items} of one MMMLU file, subjects in file order, ids by order within subject.
    `path` holds `mmlu_{LOCALE}.csv` (test) / `mmlu_{LOCALE}_dev.csv` (dev), or has a `test/`
    folder that does (the released repository)."""
    code, locale = mmmlu_locale(lang_or_locale)
    if split not in ("dev", "test"):
        raise DataError(f"MMMLU split must be 'dev' or 'test', got {split!r}")
    root = _directory(path, "MMMLU")
    name = f"mmlu_{locale}.csv" if split == "test" else f"mmlu_{locale}_dev.csv"
    file = next((f for f in (root / name, root / "test" / name) if f.is_file()), None)
    if file is None:
        raise DataError(f"{root}: no {name} (MMMLU {code} {split} file)")
    rows = _csv_rows(file)
    if not rows:
        raise DataError(f"{file}: empty file")
    (_, header), body = rows[0], rows[1:]
    if tuple(header) == MMMLU_HEADER:
        skip = 0
    elif tuple(header[1:]) == MMMLU_HEADER:
        skip = 1  # the index column pandas writes, as in the release
    else:
        raise DataError(
            f"{file}: line 1: header {','.join(header)!r}, expected {','.join(MMMLU_HEADER)!r}"
            " (optionally after an unnamed index column)"
        )
    by_subject: dict[str, list[MCItem]] = {}
    for line, row in body:
        where = f"{file}: line {line}"
        if len(row) != len(MMMLU_HEADER) + skip:
            raise DataError(f"{where}: {len(row)} columns, expected {len(MMMLU_HEADER) + skip}")
        *values, subject = row[skip:]
        if not subject:
            raise DataError(f"{where}: empty Subject")
        items = by_subject.setdefault(subject, [])
        items.append(_item(values, where, subject, split, len(items), code))
    if not by_subject:
        raise DataError(f"{file}: no questions")
    return {s: by_subject[s] for s in _wanted(by_subject, subjects, str(file))}


def align(english: Mapping[str, list[MCItem]], translated: Mapping[str, list[MCItem]], lang: str) -> None:
    """Check that a translation is MMLU row for row: same subjects, same count per subject, same
    answer letter in each row. Ids are positional, so a dropped row would otherwise pair every
    later question with the wrong English one."""
    for subject in english:
        if subject not in translated:
            raise DataError(
                f"{lang} has no subject {subject} (English has {len(english[subject])} questions)"
            )
    for subject in translated:
        if subject not in english:
            raise DataError(
                f"English has no subject {subject} ({lang} has {len(translated[subject])} questions)"
            )
    for subject, en_items in english.items():
        items = translated[subject]
        if len(items) != len(en_items):
            raise DataError(f"{lang} {subject}: {len(items)} questions, English has {len(en_items)}")
        for k, (en, item) in enumerate(zip(en_items, items, strict=True)):
            if item.answer != en.answer:
                raise DataError(f"{lang} {subject} row {k}: answer {item.answer}, English has {en.answer}")


def _text(record: Any, key: str, where: str) -> str:
    if not isinstance(record, Mapping) or key not in record:
        raise DataError(f"{where}: missing field {key!r}")
    value = record[key]
    if not isinstance(value, str):
        raise DataError(f"{where}: field {key!r} must be a string, got {type(value).__name__} {value!r}")
    return value


def _json_records(path: Path) -> list[tuple[str, Any]]:
    """(where, record) of a JSON list or of JSON lines (blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not a JSON list ({e})") from None
        return [(f"{path}: item {i}", r) for i, r in enumerate(records)]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((f"{path}: line {n}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {n}: not JSON ({e})") from None
    return out


def _parquet_records(path: Path) -> list[tuple[str, Any]]:
    import pandas as pd  # only here: pandas is slow to import and only the quiz needs it

    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable parquet file ({e})") from None
    return [(f"{path}: row {i}", r) for i, r in enumerate(frame.to_dict("records"))]


def load_hp_quiz(path: str | Path, lang: str) -> list[MCItem]:
    """One language of the Harry Potter quiz; `path` is the dataset folder or its `data/`."""
    code = get_language(lang).code
    if code not in HP_LANGUAGES:
        raise DataError(f"the Harry Potter quiz has no {code} version (it has: {' '.join(HP_LANGUAGES)})")
    name = HP_LANGUAGES[code]
    root = _directory(path, "Harry Potter quiz")
    folders = [root / "data", root] if (root / "data").is_dir() else [root]
    files = [f for d in folders for f in sorted(d.glob(f"{name}-*.parquet"))]
    files += [
        d / f"{name}{ext}" for d in folders for ext in (".json", ".jsonl") if (d / f"{name}{ext}").is_file()
    ]
    if not files:
        raise DataError(f"{root}: no {name} quiz file (data/{name}-*.parquet, {name}.json or {name}.jsonl)")
    if any(f.suffix != ".parquet" for f in files) and len(files) > 1:
        raise DataError(
            f"{root}: {len(files)} files hold the {name} quiz ({files[0].name}, {files[1].name}); keep one"
        )
    records = []
    for f in files:
        records += _parquet_records(f) if f.suffix == ".parquet" else _json_records(f)
    if not records:
        raise DataError(f"{root}: the {name} quiz file has no questions")
    items = []
    for k, (where, record) in enumerate(records):
        values = [_text(record, key, where) for key in ("question", *LETTERS, "GT")]
        items.append(_item(values, where, "harry_potter", "test", k, code))
    return items


def load_tofu(path: str | Path) -> list[QAPair]:
    """TOFU question-answer pairs from one released file (JSON lines, e.g. full.json, forget10.json)."""
    path = Path(path).expanduser()
    pairs = [QAPair(_text(r, "question", w), _text(r, "answer", w)) for w, r in _json_records(path)]
    if not pairs:
        raise DataError(f"{path}: no question-answer pairs")
    return pairs


def load_shipped(lang: str, split: str = "test") -> dict[str, list[MCItem]]:
    """xling's parallel multiple-choice set (8 subjects, 20 test + 5 dev questions each) in one
    language, read from its MMLU / MMMLU layouts and, for a translation, aligned with English."""
    code = get_language(lang).code
    if code not in SHIPPED_LANGUAGES:
        raise DataError(
            f"the shipped multiple-choice set has no {code} version (it has: {' '.join(SHIPPED_LANGUAGES)})"
        )
    if split not in ("dev", "test"):
        raise DataError(f"the shipped multiple-choice set has splits 'dev' and 'test', got {split!r}")
    english = load_hendrycks(SHIPPED_MC / "mmlu", split)
    if code == "en":
        return english
    translated = load_mmmlu(SHIPPED_MC / "mmmlu", code, split=split)
    align(english, translated, code)
    return translated

"""Write the shipped multiple-choice set in the MMLU and MMMLU layouts.

`items.{lang}.jsonl` are the source (edit those); the CSVs under `mmlu/` and `mmmlu/` are
generated from them so that the shipped set is read by the same loaders as the released
benchmarks (`xling.data.mmlu`). tests/test_mmlu_data.py checks the CSVs equal a fresh build.

    python xling/data/mc/build_layouts.py          # rewrite the CSVs
    python xling/data/mc/build_layouts.py --check  # exit 1 if they differ from the JSONL
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from xling.data.mmlu import LETTERS, LOCALES, MMMLU_HEADER
from xling.errors import DataError

HERE = Path(__file__).resolve().parent
TRANSLATED = ("fr", "de", "es", "it")
KEYS = ("id", "subject", "split", "question", "choices", "answer")


def read_items(lang: str, directory: Path = HERE) -> list[dict]:
    """The lines of items.{lang}.jsonl, each checked to be a complete four-option item."""
    path = directory / f"items.{lang}.jsonl"
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        item = json.loads(line)
        if tuple(item) != KEYS:
            raise DataError(f"{path}: line {n}: keys {list(item)}, expected {list(KEYS)}")
        if item["split"] not in ("dev", "test") or item["answer"] not in LETTERS or len(item["choices"]) != 4:
            raise DataError(f"{path}: line {n}: bad split, answer or number of choices")
        items.append(item)
    return items


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def build(directory: Path = HERE) -> dict[str, str]:
    """{path relative to `directory`: CSV text}; rows ordered by subject, then id."""
    english = read_items("en", directory)
    by_lang = {"en": english}
    for lang in TRANSLATED:
        items = read_items(lang, directory)
        for n, (en, item) in enumerate(zip(english, items, strict=True), 1):
            if any(en[k] != item[k] for k in ("id", "subject", "split", "answer")):
                raise DataError(
                    f"items.{lang}.jsonl: line {n}: id, subject, split or answer differs from English"
                )
        by_lang[lang] = items
    files: dict[str, str] = {}
    for split in ("dev", "test"):
        rows = sorted((i for i in english if i["split"] == split), key=lambda i: (i["subject"], i["id"]))
        for subject in sorted({i["subject"] for i in rows}):
            body = [[i["question"], *i["choices"], i["answer"]] for i in rows if i["subject"] == subject]
            files[f"mmlu/data/{split}/{subject}_{split}.csv"] = _csv(body)
        for lang in TRANSLATED:
            items = sorted(
                (i for i in by_lang[lang] if i["split"] == split), key=lambda i: (i["subject"], i["id"])
            )
            body = [list(MMMLU_HEADER)] + [
                [i["question"], *i["choices"], i["answer"], i["subject"]] for i in items
            ]
            suffix = "" if split == "test" else "_dev"
            files[f"mmmlu/mmlu_{LOCALES[lang]}{suffix}.csv"] = _csv(body)
    return files


def generated(directory: Path = HERE) -> dict[str, str]:
    """The CSVs now on disk under mmlu/ and mmmlu/, as {relative path: text}."""
    paths = [*directory.glob("mmlu/data/*/*.csv"), *directory.glob("mmmlu/*.csv")]
    return {p.relative_to(directory).as_posix(): p.read_text(encoding="utf-8") for p in sorted(paths)}


def main(argv: list[str]) -> int:
    files = build()
    if argv == ["--check"]:
        stale = sorted(set(files.items()) ^ set(generated().items()))
        for name in sorted({name for name, _ in stale}):
            print(f"differs from items.*.jsonl: {name}")
        return 1 if stale else 0
    if argv:
        print(__doc__)
        return 2
    for name in generated():
        if name not in files:
            (HERE / name).unlink()
    for name, text in files.items():
        (HERE / name).parent.mkdir(parents=True, exist_ok=True)
        (HERE / name).write_text(text, encoding="utf-8", newline="")
    print(f"wrote {len(files)} files under {HERE.name}/mmlu and {HERE.name}/mmmlu")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

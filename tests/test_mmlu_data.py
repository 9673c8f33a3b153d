"""MMLU / MMMLU / Harry Potter quiz / TOFU loaders on small files made here, and the shipped set."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pandas as pd
import pytest

from xling.data.mc import build_layouts
from xling.data.mmlu import (
    LOCALES,
    SHIPPED_LANGUAGES,
    SHIPPED_MC,
    MCItem,
    QAPair,
    align,
    load_hendrycks,
    load_hp_quiz,
    load_mmmlu,
    load_shipped,
    load_tofu,
    mmmlu_locale,
)
from xling.errors import DataError

TRICKY = 'Which is true, "a" or b?\nPick one.'  # a comma, quotes and a newline in one field
PHYSICS = [[TRICKY, "x, y", "z", "w", "v", "B"], ["2 + 2?", "3", "4", "5", "6", "B"]]
ALGEBRA = [["1 + 1?", "2", "3", "4", "5", "A"]]


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return path


def hendrycks(root, split="test", subjects=None):
    subjects = subjects or {"physics": PHYSICS, "abstract_algebra": ALGEBRA}
    for subject, rows in subjects.items():
        write_csv(root / "data" / split / f"{subject}_{split}.csv", rows)
    return root


def mmmlu_rows(subject_rows, index=False):
    header = ["Question", "A", "B", "C", "D", "Answer", "Subject"]
    body = [[*row, subject] for subject, rows in subject_rows for row in rows]
    if index:
        return [["", *header]] + [[str(i), *row] for i, row in enumerate(body)]
    return [header, *body]


# --- MMLU (Hendrycks) ---------------------------------------------------------------------


def test_hendrycks_layout_parses_quoted_fields(tmp_path):
    root = hendrycks(tmp_path / "mmlu")
    data = load_hendrycks(root, "test")
    assert list(data) == ["abstract_algebra", "physics"]
    first = data["physics"][0]
    assert first == MCItem("physics-test-0000", "physics", "test", TRICKY, ("x, y", "z", "w", "v"), "B", "en")
    assert first.answer_text == "z" and first.answer_index == 1
    assert data["physics"][1].id == "physics-test-0001"
    # the data/ folder itself, and a subject filter
    assert load_hendrycks(root / "data", "test", subjects=["physics"]).keys() == {"physics"}


def test_hendrycks_errors(tmp_path):
    with pytest.raises(DataError, match="no MMLU directory"):
        load_hendrycks(tmp_path / "absent")
    (tmp_path / "empty" / "data" / "test").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no \*_test.csv files"):
        load_hendrycks(tmp_path / "empty")
    with pytest.raises(DataError, match="no data/dev/ or dev/ folder"):
        load_hendrycks(hendrycks(tmp_path / "m"), "dev")
    with pytest.raises(DataError, match="no subject astronomy"):
        load_hendrycks(tmp_path / "m", subjects=["astronomy"])
    # line numbers count physical lines: the first record spans lines 1-2
    bad = hendrycks(tmp_path / "b", subjects={"physics": [*PHYSICS, ["q", "a", "b", "c", "B"]]})
    with pytest.raises(DataError, match=r"physics_test.csv: line 4: 5 columns, expected 6"):
        load_hendrycks(bad)
    bad = hendrycks(tmp_path / "c", subjects={"physics": [["q", "a", "b", "c", "d", "E"]]})
    with pytest.raises(DataError, match=r"physics_test.csv: line 1: answer 'E' is not one of A, B, C, D"):
        load_hendrycks(bad)
    (tmp_path / "d" / "data" / "test").mkdir(parents=True)
    (tmp_path / "d" / "data" / "test" / "x_test.csv").write_text('"open quote,a,b,c,d,A\n', encoding="utf-8")
    with pytest.raises(DataError, match="malformed CSV"):
        load_hendrycks(tmp_path / "d")


# --- MMMLU --------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [False, True])
def test_mmmlu_with_and_without_index_column(tmp_path, index):
    rows = mmmlu_rows([("physics", PHYSICS), ("abstract_algebra", ALGEBRA)], index=index)
    write_csv(tmp_path / "mmlu_FR_FR.csv", rows)
    data = load_mmmlu(tmp_path, "fr")
    assert list(data) == ["physics", "abstract_algebra"]  # file order
    assert data["physics"][0] == MCItem(
        "physics-test-0000", "physics", "test", TRICKY, ("x, y", "z", "w", "v"), "B", "fr"
    )
    assert load_mmmlu(tmp_path, "FR_FR") == data
    write_csv(tmp_path / "mmlu_FR_FR_dev.csv", mmmlu_rows([("physics", PHYSICS[:1])], index=index))
    dev = load_mmmlu(tmp_path, "fr", split="dev")
    assert [i.id for i in dev["physics"]] == ["physics-dev-0000"]


def test_mmmlu_release_layout_and_errors(tmp_path):
    write_csv(tmp_path / "test" / "mmlu_DE_DE.csv", mmmlu_rows([("physics", PHYSICS)], index=True))
    assert len(load_mmmlu(tmp_path, "de", subjects="physics")["physics"]) == 2
    assert mmmlu_locale("es") == ("es", "ES_LA") and mmmlu_locale("zh_cn") == ("zh", "ZH_CN")
    assert set(LOCALES) >= {"ar", "bn", "hi", "id", "ja", "ko", "pt", "sw", "yo", "zh"}
    with pytest.raises(DataError, match="MMMLU is MMLU itself"):
        load_mmmlu(tmp_path, "en")
    with pytest.raises(DataError, match="no MMMLU locale for 'xx'"):
        load_mmmlu(tmp_path, "xx")
    with pytest.raises(DataError, match=r"no mmlu_IT_IT.csv"):
        load_mmmlu(tmp_path, "it")
    write_csv(
        tmp_path / "mmlu_IT_IT.csv", [["Q", "A", "B", "C", "D", "Answer"], ["q", "a", "b", "c", "d", "A"]]
    )
    with pytest.raises(DataError, match="line 1: header 'Q,A,B,C,D,Answer'"):
        load_mmmlu(tmp_path, "it")
    write_csv(tmp_path / "mmlu_ES_LA.csv", mmmlu_rows([("physics", [["q", "a", "b", "c", "d", "a"]])]))
    with pytest.raises(DataError, match=r"mmlu_ES_LA.csv: line 2: answer 'a' is not one of"):
        load_mmmlu(tmp_path, "es")


# --- alignment ----------------------------------------------------------------------------


def test_align_accepts_a_parallel_translation(tmp_path):
    english = load_hendrycks(hendrycks(tmp_path / "mmlu"))
    write_csv(tmp_path / "mmlu_FR_FR.csv", mmmlu_rows([("abstract_algebra", ALGEBRA), ("physics", PHYSICS)]))
    align(english, load_mmmlu(tmp_path, "fr"), "fr")


def test_align_errors(tmp_path):
    english = load_hendrycks(hendrycks(tmp_path / "mmlu"))
    wrong = [PHYSICS[0], [*PHYSICS[1][:5], "C"]]
    write_csv(tmp_path / "mmlu_FR_FR.csv", mmmlu_rows([("abstract_algebra", ALGEBRA), ("physics", wrong)]))
    with pytest.raises(DataError, match=r"^fr physics row 1: answer C, English has B$"):
        align(english, load_mmmlu(tmp_path, "fr"), "fr")
    write_csv(tmp_path / "mmlu_DE_DE.csv", mmmlu_rows([("physics", PHYSICS)]))
    with pytest.raises(DataError, match="de has no subject abstract_algebra"):
        align(english, load_mmmlu(tmp_path, "de"), "de")
    with pytest.raises(DataError, match="English has no subject abstract_algebra"):
        align({"physics": english["physics"]}, load_hendrycks(tmp_path / "mmlu"), "de")
    write_csv(
        tmp_path / "mmlu_ES_LA.csv", mmmlu_rows([("abstract_algebra", ALGEBRA), ("physics", PHYSICS[:1])])
    )
    with pytest.raises(DataError, match="es physics: 1 questions, English has 2"):
        align(english, load_mmmlu(tmp_path, "es"), "es")


# --- Harry Potter quiz, TOFU --------------------------------------------------------------

HP = [
    {
        "question": "Who is Harry's godfather?",
        "A": "Sirius Black",
        "B": "Remus",
        "C": "Snape",
        "D": "Hagrid",
        "GT": "A",
    },
    {"question": "What does Lumos do?", "A": "Unlock", "B": "Light", "C": "Fly", "D": "Heal", "GT": "B"},
]


def test_hp_quiz_parquet(tmp_path):
    (tmp_path / "data").mkdir()
    pd.DataFrame(HP).to_parquet(tmp_path / "data" / "French-00000-of-00001-abc123.parquet")
    items = load_hp_quiz(tmp_path, "fr")
    assert [i.id for i in items] == ["harry_potter-test-0000", "harry_potter-test-0001"]
    assert items[1].answer_text == "Light" and items[0].lang == "fr" and items[0].subject == "harry_potter"
    assert load_hp_quiz(tmp_path / "data", "fr") == items
    with pytest.raises(DataError, match="no German quiz file"):
        load_hp_quiz(tmp_path, "de")
    with pytest.raises(DataError, match="has no ru version"):
        load_hp_quiz(tmp_path, "ru")
    pd.DataFrame([{k: v for k, v in r.items() if k != "GT"} for r in HP]).to_parquet(
        tmp_path / "data" / "Italian-00000-of-00001-x.parquet"
    )
    with pytest.raises(DataError, match=r"Italian-00000-of-00001-x.parquet: row 0: missing field 'GT'"):
        load_hp_quiz(tmp_path, "it")


def test_hp_quiz_json_and_jsonl(tmp_path):
    (tmp_path / "English.json").write_text(json.dumps(HP), encoding="utf-8")
    (tmp_path / "Spanish.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HP), encoding="utf-8")
    en, es = load_hp_quiz(tmp_path, "en"), load_hp_quiz(tmp_path, "es")
    assert [i.question for i in en] == [i.question for i in es] == [r["question"] for r in HP]
    assert [i.answer for i in es] == ["A", "B"]
    (tmp_path / "English.jsonl").write_text(json.dumps(HP[0]), encoding="utf-8")
    with pytest.raises(DataError, match="2 files hold the English quiz"):
        load_hp_quiz(tmp_path, "en")
    (tmp_path / "German.json").write_text(json.dumps([{**HP[0], "GT": "Sirius Black"}]), encoding="utf-8")
    with pytest.raises(DataError, match=r"German.json: item 0: answer 'Sirius Black' is not one of"):
        load_hp_quiz(tmp_path, "de")


def test_tofu_jsonl(tmp_path):
    path = tmp_path / "forget10.json"
    rows = [
        {"question": "Who wrote 'The Arc'?", "answer": "Jaime Vasquez."},
        {"question": "Q2", "answer": "A2"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert load_tofu(path) == [QAPair("Who wrote 'The Arc'?", "Jaime Vasquez."), QAPair("Q2", "A2")]
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"question": "Q2"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"forget10.json: line 2: missing field 'answer'"):
        load_tofu(path)
    with pytest.raises(DataError, match="no such file"):
        load_tofu(tmp_path / "full.json")


# --- the shipped set ----------------------------------------------------------------------

SUBJECTS = [
    "astronomy",
    "biology",
    "chemistry",
    "geography",
    "human_body",
    "mathematics",
    "physics",
    "world_history",
]


@pytest.mark.parametrize("split,count", [("test", 20), ("dev", 5)])
def test_shipped_set_is_complete_and_parallel(split, count):
    by_lang = {lang: load_shipped(lang, split) for lang in SHIPPED_LANGUAGES}  # aligned on load
    english = by_lang["en"]
    assert sorted(english) == SUBJECTS
    for lang, data in by_lang.items():
        assert sorted(data) == SUBJECTS
        align(english, data, lang)
        for subject in SUBJECTS:
            items = data[subject]
            assert len(items) == count, (lang, subject)
            assert [i.id for i in items] == [f"{subject}-{split}-{k:04d}" for k in range(count)]
            for item in items:
                assert item.lang == lang and item.split == split
                assert len(set(item.choices)) == 4 and all(c.strip() == c and c for c in item.choices), (
                    item.id
                )
                assert item.question.strip() == item.question and "\n" not in item.question
    if split == "test":
        for subject in SUBJECTS:
            assert Counter(i.answer for i in english[subject]) == dict.fromkeys("ABCD", 5), subject


def test_shipped_layouts_round_trip_the_jsonl():
    for lang in SHIPPED_LANGUAGES:
        source = build_layouts.read_items(lang)
        for split in ("dev", "test"):
            loaded = load_shipped(lang, split)
            for subject, items in loaded.items():
                rows = sorted(
                    (r for r in source if r["subject"] == subject and r["split"] == split),
                    key=lambda r: r["id"],
                )
                letter = "t" if split == "test" else "d"
                assert [r["id"] for r in rows] == [
                    f"{subject}-{letter}{k + 1:02d}" for k in range(len(items))
                ]
                assert [(i.question, list(i.choices), i.answer) for i in items] == [
                    (r["question"], r["choices"], r["answer"]) for r in rows
                ]


def test_generated_layouts_equal_a_fresh_build():
    fresh = build_layouts.build()
    on_disk = build_layouts.generated()
    assert sorted(on_disk) == sorted(fresh), "run: python xling/data/mc/build_layouts.py"
    for name, text in fresh.items():
        assert on_disk[name] == text, (
            f"{name} differs from items.*.jsonl; run: python xling/data/mc/build_layouts.py"
        )
    assert (SHIPPED_MC / "mmmlu" / "mmlu_FR_FR_dev.csv").is_file()
    assert len(fresh) == 2 * len(SUBJECTS) + 2 * 4

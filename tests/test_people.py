"""The shipped fictitious-people set and its loader's checks."""

from __future__ import annotations

import json

import pytest

from xling.data.people import LANGS, load_people
from xling.errors import DataError


def test_shipped_set():
    people = load_people()
    assert len(people) >= 20 and len({p.name for p in people}) == len(people)
    for p in people:
        assert len(p.facts) == 8
        assert 80 <= len(p.biography["en"].split()) <= 160
        for f in p.facts:
            for lang in LANGS:
                assert p.name in f.question[lang] and f.question[lang].endswith("?")
                assert f.answer[lang] in p.biography[lang]


def _write(tmp_path, person):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(person, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _person():
    bio = {lang: f"Ada Rell ({lang}) was born in 1901 in Tarn." for lang in LANGS}
    fact = {"id": "x-1", "question": {lang: f"When was Ada Rell born ({lang})?" for lang in LANGS},
            "answer": dict.fromkeys(LANGS, "1901")}  # fmt: skip
    return {"id": "x", "name": "Ada Rell", "biography": bio, "facts": [fact]}


def test_bad_files(tmp_path):
    assert load_people(_write(tmp_path, _person()))[0].facts[0].answer["it"] == "1901"
    p = _person()
    p["facts"][0]["answer"]["de"] = "1902"
    with pytest.raises(DataError, match="x-1 de: answer '1902' is not in the biography"):
        load_people(_write(tmp_path, p))
    p = _person()
    p["biography"]["fr"] = p["biography"]["fr"].replace("1901", "1910")
    with pytest.raises(DataError, match="x-1 fr: answer '1901' is not in the biography"):
        load_people(_write(tmp_path, p))
    p = _person()
    del p["facts"][0]["question"]["es"]
    with pytest.raises(DataError, match="x-1 question: no es text"):
        load_people(_write(tmp_path, p))
    with pytest.raises(DataError, match="no fictitious-people file at"):
        load_people(tmp_path / "none.jsonl")

"""Bad input is refused before anything is written or loaded, and unit files are only
trusted when complete (the word-translation experiment as the example)."""

from __future__ import annotations

import json
import logging
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from xling.cli import one_line
from xling.errors import DataError, XlingError
from xling.experiments import word_translation as wt
from xling.workdir import Workdir

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "word_translation.py"
LEXICON = [
    {"id": w, "pos": "noun", "words": {"en": [w], "fr": [f], "de": [d]}}
    for w, f, d in [("dog", "chien", "Hund"), ("cat", "chat", "Katze"), ("book", "livre", "Buch"),
                    ("water", "eau", "Wasser"), ("house", "maison", "Haus"), ("tree", "arbre", "Baum")]
]  # fmt: skip


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "lex.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in LEXICON), encoding="utf-8")
    return path


def _config(lexicon, **changes):
    c = runpy.run_path(str(CONFIG))["get_config"]("runlocal")
    c.data.lexicon, c.pairs, c.num_concepts = str(lexicon), "fr-en", 2
    c.prompt.num_demos, c.prompt.num_demo_sets, c.trace.num_distractors = 2, 2, 2
    for key, value in changes.items():
        node = c
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return c


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pairs": "fr-en,fr-en"}, "pair fr-en is given twice"),
        ({"num_concepts": -1}, "num_concepts must be an integer >= 0"),
        ({"bootstrap": 0}, "bootstrap must be an integer >= 1"),
        ({"trace.batch_size": 0}, "trace.batch_size must be an integer >= 1"),
        ({"trace.rule": "foo"}, "trace.rule 'foo' is not one of primary, threshold"),
        ({"trace.threshold": 2.0}, r"trace.threshold must be in \[0, 1\]"),
        ({"prompt.num_demos": 9}, "need 9 demonstration concepts besides"),
        ({"trace.num_distractors": 8}, "need 8 distractors of pos 'noun'"),
        ({"model.name": ""}, "config.model.name must name a model"),
        ({"model.dtype": "float8"}, "config.model.dtype 'float8' is not a dtype"),
    ],
)
def test_bad_config_fails_before_the_workdir_is_locked(lexicon, tmp_path, changes, message):
    workdir = tmp_path / "w"
    with pytest.raises((DataError, XlingError), match=message):
        wt.run(_config(lexicon, **changes), workdir)
    assert not (workdir / "config.json").exists()  # a later, corrected run may use this workdir


def test_the_fingerprint_holds_input_file_content(lexicon):
    before = wt.plan(_config(lexicon)).inputs
    rows = LEXICON[:]
    rows[0] = {**rows[0], "words": {**rows[0]["words"], "en": ["hound"]}}
    lexicon.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")  # same path
    after = wt.plan(_config(lexicon)).inputs
    assert before.keys() == after.keys() and before != after


def test_incomplete_unit_files_are_recomputed(tmp_path, caplog):
    work = Workdir(tmp_path, units="pairs").prepare()
    work.write_unit("fr-en", [{"a": 1}, {"a": 2}])
    assert work.done("fr-en")
    text = work.unit("fr-en").read_text()
    cases = {
        "empty": "",
        "truncated": text[: len(text) // 2],
        "no trailer": text.splitlines(keepends=True)[0],
        "wrong count": text.replace('"_unit_complete": 2', '"_unit_complete": 3'),
    }
    for name, content in cases.items():
        work.unit("fr-en").write_text(content)
        with caplog.at_level(logging.WARNING):
            assert not work.done("fr-en"), name
        assert "recomputing this unit" in caplog.text and str(work.unit("fr-en")) in caplog.text


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (KeyError("'num_concept'\nDid you mean \"num_concepts\"?"), "the config has no field 'num_concept' (did you mean \"num_concepts\"?)"),
        (AttributeError(repr("'num_concept'\nDid you mean \"num_concepts\"?")), "the config has no field 'num_concept' (did you mean \"num_concepts\"?)"),
        (ValueError("Traceback (most recent call last):\n  File x\nValueError: unknown config variant 'x'"), "unknown config variant 'x'"),
        (DataError("a\nb"), "a; b"),
    ],
)  # fmt: skip
def test_errors_read_as_one_line(error, line):
    assert one_line(error) == line


def _cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "xling.main", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env=env,
    )  # fmt: skip


def test_cli_errors_are_one_line_and_exit_2(tmp_path, lexicon):
    cases = [
        (["--config=experiments/word_translation.py:nope"], "error: unknown config variant 'nope' (known: runlocal)"),
        (["--config=experiments/word_translation.py", "--config.num_concept=3"], "error: the config has no field 'num_concept'"),
        (["--config=experiments/word_translation.py", "--config.pairs=fr-en,fr-en"], "error: pair fr-en is given twice"),
    ]  # fmt: skip
    for args, want in cases:
        out = _cli(*args, f"--workdir={tmp_path / 'w'}")
        errors = [x for x in out.stderr.splitlines() if x.startswith("error:")]
        assert out.returncode == 2 and len(errors) == 1 and errors[0].startswith(want), out.stderr[-1500:]
        assert "Traceback" not in out.stderr
    verbose = _cli("--config=experiments/word_translation.py:nope", f"--workdir={tmp_path}", "--verbose")
    assert "Traceback" in verbose.stderr and verbose.returncode == 2


def test_verify_on_a_missing_path_is_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "xling.verify", f"--model={tmp_path / 'missing'}"], cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert [x for x in out.stderr.splitlines() if x.startswith("error:")] == [
        f"error: unknown model '{tmp_path / 'missing'}': not a file, and not a known name "
        "(gemma3-270m, smollm2-135m-instruct)"
    ]


def test_muse_languages_from_the_config(tmp_path):
    muse = tmp_path / "dictionary.txt"  # not named like fr-en.txt
    muse.write_text(
        "".join(f"{r['words']['fr'][0]} {r['words']['en'][0]}\n" for r in LEXICON), encoding="utf-8"
    )
    c = _config(muse, **{"trace.score": False})
    with pytest.raises(DataError, match=r"--config\.data\.src=fr --config\.data\.tgt=en"):
        wt.plan(c)
    c.data.src, c.data.tgt = "fr", "en"
    assert wt.plan(c).pairs == [("fr", "en")]

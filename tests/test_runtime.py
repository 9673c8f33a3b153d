"""Experiment plumbing: the model block, experiments by name, workdirs and units."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from xling import experiments, runtime, sharding
from xling.errors import DataError, XlingError
from xling.workdir import Workdir, atomic_write

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dtype", "float8", "config.model.dtype 'float8' is not a dtype xling runs"),
        ("param_dtype", "fp16", "config.model.param_dtype 'fp16' is not a dtype"),
        ("attention_impl", "flash", "config.model.attention_impl 'flash' is not one of auto"),
        ("remat", "some", "config.model.remat 'some' is not one of none, full, dots"),
        ("attention_chunk", -1, "attention_chunk must be an integer >= 0"),
        ("name", "", "config.model.name must name a model"),
    ],
)
def test_model_block_errors(field, value, message):
    c = runtime.model_config()
    c[field] = value
    with pytest.raises(DataError, match=message):
        runtime.check_model_config(c)


def test_single_device_mesh_means_no_partitioning():
    assert runtime.make_partitioning(None) is None
    assert runtime.make_partitioning(sharding.default_config()) is None  # one CPU device here


def test_experiments_are_found_by_name():
    assert {"word_translation", "lens"} <= set(experiments.available())
    assert experiments.find("lens").run
    assert experiments.find("xling.experiments.lens") is experiments.find("lens")
    with pytest.raises(XlingError, match=r"unknown experiment 'nope' \(known: .*word_translation"):
        experiments.find("nope")
    with pytest.raises(XlingError, match=r"unknown experiment 'no\.such\.module'"):
        experiments.find("no.such.module")
    with pytest.raises(XlingError, match="has no run"):
        experiments.find("xling.errors")


def test_atomic_write_respects_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temp file left


def test_workdir_units_and_config_check(tmp_path):
    work = Workdir(tmp_path / "w").prepare()
    assert not work.done("fr-en")
    work.write_unit("fr-en", [{"a": 1}, {"a": "é"}])
    assert work.done("fr-en") and work.read_unit("fr-en") == [{"a": 1}, {"a": "é"}]
    work.write_config({"seed": 0, "bootstrap": 100})
    work.check_config({"seed": 0, "bootstrap": 5}, report_fields=("bootstrap",))  # report-only: fine
    with pytest.raises(XlingError, match=r"different config \(changed: seed\)"):
        work.check_config({"seed": 1, "bootstrap": 100}, report_fields=("bootstrap",))
    work.write_config({"seed": 0, "embedding": {"centre": True, "batch_size": 4}})
    work.check_config({"seed": 0, "embedding": {"centre": False, "batch_size": 4}}, ("embedding.centre",))
    with pytest.raises(XlingError, match=r"changed: embedding\)"):
        work.check_config({"seed": 0, "embedding": {"centre": True, "batch_size": 8}}, ("embedding.centre",))
    work.write_config({"seed": 0, "prompts": ("a", "b")})
    work.check_config({"seed": 0, "prompts": ("a", "b")})  # a tuple reads back as a list: same config
    (work.units / "bad.jsonl").write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(XlingError, match=r"bad.jsonl:2: not a JSON line"):
        work.read_unit("bad")


def test_unwritable_workdir_is_one_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(XlingError, match="is not writable"):
        Workdir(blocker / "sub").prepare()


def test_cli_bad_dtype_is_one_line_and_writes_nothing(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "xling.main", "--config=experiments/word_translation.py:runlocal",
         f"--workdir={tmp_path / 'w'}", "--config.model.dtype=float8"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2
    errors = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "config.model.dtype 'float8'" in errors[0], out.stderr[-2000:]
    assert not (tmp_path / "w" / "config.json").exists()

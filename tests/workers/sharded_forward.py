"""Run in a fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=8.

    python tests/workers/sharded_forward.py MODEL OUT.json

Loads MODEL (registry name or HF directory) once unsharded and once per mesh
(placed shard by shard at load time), runs the same left-padded batch, and
writes errors and per-device shard shapes as JSON.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import jax
import numpy as np
from flax import nnx

import xling
from xling.checkpoints.hf_dir import load_hf_dir
from xling.inference.generation import greedy_generate
from xling.models.decoder import jit_forward
from xling.sharding import DEFAULT_RULES, make_mesh, placer, sharded_forward

MESHES = [(8, 1), (1, 8), (2, 4), (4, 2)]  # (data, tensor)


def load(model_path: str, place=None):
    if Path(model_path).is_dir():
        return load_hf_dir(model_path, place=place)
    return xling.load(model_path, place=place).model


def main(model_path: str, out_path: str) -> None:
    assert jax.device_count() == 8, jax.devices()
    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("xling.partitioning").addHandler(handler)

    ref_model = load(model_path)
    vocab = ref_model.cfg.vocab_size
    rng = np.random.default_rng(0)
    ids = rng.integers(3, min(vocab, 5000), (8, 12)).astype(np.int32)
    mask = np.ones_like(ids, bool)
    mask[1, :5] = mask[6, :9] = False
    ref = jit_forward(ref_model, return_hidden=True)(ids, mask)
    ref_gen = greedy_generate(ref_model, ids, mask, max_new_tokens=4)
    ref_h, ref_l = np.asarray(ref.hidden_states), np.asarray(ref.logits)
    del ref_model

    results = {}
    for data, tensor in MESHES:
        mesh = make_mesh({"data": data, "fsdp": 1, "tensor": tensor})
        model = load(model_path, place=placer(mesh, DEFAULT_RULES))
        out = sharded_forward(model, mesh, DEFAULT_RULES, return_hidden=True)(ids, mask)
        h, lg = np.asarray(out.hidden_states), np.asarray(out.logits)
        same_generation = bool((greedy_generate(model, ids, mask, max_new_tokens=4) == ref_gen).all())
        shards = {}
        for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
            arr = var.get_value()
            shards["/".join(map(str, path))] = {
                "global": list(arr.shape),
                "shards": sorted({tuple(s.data.shape) for s in arr.addressable_shards}),
                "replicated": arr.sharding.is_fully_replicated,
                "devices": len(arr.sharding.device_set),
            }
        results[f"{data}x{tensor}"] = {
            "hidden_err": float(np.abs(h - ref_h)[:, mask].max() / np.abs(ref_h[:, mask]).max()),
            "logits_err": float(np.abs(lg - ref_l)[mask].max() / np.abs(ref_l[mask]).max()),
            "out_sharding": str(out.logits.sharding.spec),
            "same_generation": same_generation,
            "params": shards,
        }
    with open(out_path, "w") as f:
        json.dump({"meshes": results, "warnings": warnings}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

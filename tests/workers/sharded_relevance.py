"""Run in a fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=8.

    python tests/workers/sharded_relevance.py OUT.json

AttnLRP relevance of a tiny model on one device and with the weights sharded over each
mesh (data x fsdp x tensor) and the activations constrained by the default rules; writes
the largest relative difference per mesh as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import tiny_model

from xling.attribution.relevance import relevance
from xling.partitioning import Partitioning
from xling.sharding import DEFAULT_RULES, make_mesh, shard_params

MESHES = [(8, 1, 1), (2, 2, 2), (1, 4, 2), (2, 1, 4)]  # (data, fsdp, tensor)


def main(out_path: str) -> None:
    assert jax.device_count() == 8, jax.devices()
    # d_model 32, 4 heads, 2 kv heads, mlp 48: every dimension divides by the mesh axes used.
    model = tiny_model(11, vocab_size=96)
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, 96, (8, 12)).astype(np.int32)
    mask = np.ones_like(tokens, bool)
    mask[1, :5] = mask[6, :9] = False
    pos, ids = np.full(8, 11), np.full(8, -1)
    ref = relevance(model, tokens, mask, pos, ids)
    out = {}
    for data, fsdp, tensor in MESHES:
        mesh = make_mesh({"data": data, "fsdp": fsdp, "tensor": tensor})
        sharded = tiny_model(11, vocab_size=96)
        shard_params(sharded, mesh, DEFAULT_RULES)
        got = relevance(sharded, tokens, mask, pos, ids, partitioning=Partitioning.of(mesh, DEFAULT_RULES))
        scale = float(np.abs(np.asarray(ref.relevance)).max())
        out[f"{data}x{fsdp}x{tensor}"] = {
            "relevance_err": float(np.abs(np.asarray(got.relevance) - np.asarray(ref.relevance)).max())
            / scale,
            "same_ids": bool(np.array_equal(np.asarray(got.ids), np.asarray(ref.ids))),
            "value_err": float(np.abs(np.asarray(got.value) - np.asarray(ref.value)).max()),
        }
    Path(out_path).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])

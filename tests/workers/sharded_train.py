"""Run in a fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=8.

    python tests/workers/sharded_train.py OUT.json

Two train steps of a tiny model on one device and with parameters and optimizer state
sharded over each mesh (FSDP on `fsdp`, data parallel on `data`, tensor parallel on
`tensor`); writes the largest parameter and loss differences and the shard shapes as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import tiny_model

from xling.partitioning import Partitioning
from xling.sharding import DEFAULT_RULES, make_mesh, shard_params
from xling.train.loss import Batch
from xling.train.optim import OptimizerConfig, make_optimizer, schedule
from xling.train.step import init_state, make_train_step, stack

MESHES = [(1, 8, 1), (2, 4, 1), (2, 2, 2), (8, 1, 1)]  # (data, fsdp, tensor)


def run(model, partitioning, batches):
    cfg = OptimizerConfig(learning_rate=1e-2, total_steps=10)
    opt = make_optimizer(cfg)
    graphdef, state = init_state(model, opt)
    step = make_train_step(graphdef, opt, schedule(cfg), partitioning=partitioning)
    losses = []
    for b in batches:
        state, m = step(state, b)
        losses.append(float(m["loss"]))
    return state, losses


def main(out_path: str) -> None:
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    rows = [list(rng.integers(3, 96, rng.integers(5, 13))) for _ in range(16)]
    batches = [stack([Batch.from_rows(rows[i : i + 8], 12)]) for i in (0, 8)]
    ref, ref_losses = run(tiny_model(5, vocab_size=96), None, batches)
    ref_leaves = jax.tree.leaves(ref.params)
    out = {}
    for data, fsdp, tensor in MESHES:
        mesh = make_mesh({"data": data, "fsdp": fsdp, "tensor": tensor})
        model = shard_params(tiny_model(5, vocab_size=96), mesh, DEFAULT_RULES)
        state, losses = run(model, Partitioning.of(mesh, DEFAULT_RULES), batches)
        leaves = jax.tree.leaves(state.params)
        embed = state.params["embed"].get_value() if hasattr(state.params["embed"], "get_value") else None
        mu = jax.tree.leaves(state.opt_state)
        out[f"{data}x{fsdp}x{tensor}"] = {
            "param_err": max(
                float(np.abs(np.asarray(a) - np.asarray(b)).max())
                for a, b in zip(leaves, ref_leaves, strict=True)
            ),
            "loss_err": max(abs(a - b) for a, b in zip(losses, ref_losses, strict=True)),
            "embed_shard": list(embed.addressable_shards[0].data.shape) if embed is not None else None,
            "moment_shards": sorted(
                {str(x.sharding.spec) for x in mu if hasattr(x, "sharding") and x.ndim >= 2}
            ),
        }
    Path(out_path).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])

"""Compiled memory of xling's full training step (loss, gradients, clipping, AdamW) for a
Llama-3-8B-shaped model, FSDP over 8 simulated devices, no weights allocated.

    python benchmarks/train_memory_8b.py        # re-executes itself with 8 host devices

The parameters are ShapeDtypeStructs carrying their FSDP shardings (the logical-axis rules
of `xling.sharding`, `embed` on the fsdp axis); the optimizer state's shardings are those XLA
propagates through `optimizer.init`; the batch is split over (data, fsdp). The step is
`xling.train.step.make_train_step`, lowered and compiled for the CPU, and
`memory_analysis()` is per device. Cases: bf16 parameters and state, and fp32 master
parameters and optimizer state with bf16 compute, each with remat none / full. Compiled
with while-loop invariant code motion off (as benchmarks/memory_8b.py: the CPU pipeline
otherwise hoists f32 copies of the stacked bf16 weights out of the layer scan).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    sys.path.insert(0, str(ROOT / "tests"))
    from test_memory_analysis import NO_HOIST, llama3_8b, memory

    from xling.checkpoints.loader import abstract_model
    from xling.partitioning import Partitioning, param_logical_axes, spec_for
    from xling.sharding import DEFAULT_RULES, make_mesh
    from xling.train.loss import Batch
    from xling.train.optim import OptimizerConfig, make_optimizer, schedule
    from xling.train.step import TrainState, make_train_step

    assert jax.device_count() == 8, jax.devices()
    mesh = make_mesh({"data": 1, "fsdp": 8, "tensor": 1})
    part = Partitioning.of(mesh, DEFAULT_RULES)
    b, t = 8, 2048
    print(f"Llama-3-8B shape, FSDP over 8 devices, batch {b} x {t}, AdamW; per-device bytes")
    print("| params / state | compute | remat | argument | output | temp | total | compile s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for param_dtype, remat in (("bfloat16", "full"), ("float32", "full"), ("float32", "none")):
        cfg = llama3_8b(remat=remat).replace(param_dtype=param_dtype)
        graphdef, params = abstract_model(cfg)
        axes = param_logical_axes(params)
        import flax.nnx as nnx

        by_key = {}
        for path, var in nnx.to_flat_state(params):
            key = "/".join(map(str, path))
            v = var.get_value()
            sh = NamedSharding(mesh, spec_for(axes[key], v.shape, mesh, DEFAULT_RULES, key))
            var.set_value(jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sh))
            by_key[key] = sh
        opt_cfg = OptimizerConfig(learning_rate=2e-5, total_steps=1000)
        opt = make_optimizer(opt_cfg)
        replicated = NamedSharding(mesh, P())

        def on_mesh(path, s, by_key=by_key, replicated=replicated):  # a moment: its parameter's sharding
            keys = "/".join(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))
            sh = by_key.get(keys) if s.ndim else None
            return jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh or replicated)

        opt_abs = jax.tree_util.tree_map_with_path(on_mesh, jax.eval_shape(opt.init, params))
        state = TrainState(jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated), params, opt_abs)
        rows = NamedSharding(mesh, P(None, ("data", "fsdp"), None))
        batch = Batch(*(jax.ShapeDtypeStruct((1, b, t), dt, sharding=rows)
                        for dt in (jnp.int32, jnp.int32, jnp.float32, jnp.int32)))  # fmt: skip
        step = make_train_step(graphdef, opt, schedule(opt_cfg), partitioning=part)
        start = time.perf_counter()
        m = memory(step.lower(state, batch), NO_HOIST)
        secs = time.perf_counter() - start
        print(
            f"| {param_dtype} | bfloat16 | {remat} | {m['argument'] / 1e9:.2f} GB | {m['output'] / 1e9:.2f} GB "
            f"| {m['temp'] / 1e9:.2f} GB | {m['total'] / 1e9:.2f} GB | {secs:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    if os.environ.get("_XLING_8DEV") != "1":
        env = dict(os.environ, _XLING_8DEV="1", JAX_PLATFORMS="cpu",
                   XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8")  # fmt: skip
        sys.exit(subprocess.call([sys.executable, __file__, *sys.argv[1:]], env=env))
    main()

"""Training throughput: xling's jitted train step vs a plain PyTorch loop on the transformers
model, same batch, optimizer and precision, one run.

    python benchmarks/train_throughput.py --batch=8 --length=256 --repeats=3

Workload: the real Gemma 3 270M (default GGUF, dequantized to fp32), B rows x T random
tokens, causal-LM loss on every position, AdamW (lr 2e-5, weight decay 0.01, betas 0.9/0.999,
eps 1e-8) with global-norm clipping at 1.0, fp32 everywhere. xling: `xling.train.step`
(one jitted step: loss, gradients, clipping, AdamW). PyTorch: `model(ids, labels=ids).loss`,
`backward()`, `clip_grad_norm_`, `torch.optim.AdamW(foreach=True).step()`, `zero_grad()` —
the loop a PyTorch user writes. Prints tokens/s of both, the ratio, and xling's achieved
FLOP/s (6 x parameters-in-matmuls x tokens + attention) against the measured matmul peak.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
from absl import app, flags
from timing import matmul_peak, median_time

_B = flags.DEFINE_integer("batch", 8, "rows per batch")
_T = flags.DEFINE_integer("length", 256, "tokens per row")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed steps (median reported)")
_REMAT = flags.DEFINE_string("remat", "none", "xling remat policy (none, full, dots)")
_SIDES = flags.DEFINE_string("sides", "xling,torch", "which sides to run")


def train_flops(cfg, b: int, t: int) -> float:
    """Forward + backward FLOPs of one step: 3 x (2 x matmul parameters per token + attention
    scores and values), the unembedding at every position included."""
    d, h, kv, hd, f, v, n = (cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim,
                             cfg.mlp_dim, cfg.vocab_size, cfg.num_layers)  # fmt: skip
    per_layer = d * (h + 2 * kv) * hd + h * hd * d + 3 * d * f
    matmul_params = n * per_layer + d * v
    attention = n * 2 * 2 * h * hd * t / 2  # causal: half of QK^T and AV, per token
    return 3 * b * t * (2 * matmul_params + attention)


def main(_):
    import jax

    import xling
    from xling.train.loss import Batch
    from xling.train.optim import OptimizerConfig, make_optimizer, schedule
    from xling.train.step import init_state, make_train_step, stack

    b, t = _B.value, _T.value
    sides = _SIDES.value.split(",")
    peak = matmul_peak("float32")
    ours = xling.load("gemma3-270m", remat=_REMAT.value)
    rng = np.random.default_rng(0)
    ids = rng.integers(10, ours.config.vocab_size, (b, t)).astype(np.int32)
    flops = train_flops(ours.config, b, t)
    tokens = b * (t - 1)  # scored targets per step
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0]}"
    )
    print(f"measured fp32 matmul peak: {peak:.0f} GFLOP/s; step: {flops / 1e12:.2f} TFLOP")
    results = {}
    if "xling" in sides:
        cfg = OptimizerConfig(learning_rate=2e-5, total_steps=1000, schedule="constant", weight_decay=0.01)
        opt = make_optimizer(cfg)
        graphdef, state = init_state(ours.model, opt)
        step = make_train_step(graphdef, opt, schedule(cfg))
        batch = stack([Batch.from_rows([list(r) for r in ids], t)])
        start = time.perf_counter()
        state, m = step(state, batch)
        jax.block_until_ready(m)
        print(
            f"xling first step (compile + run): {time.perf_counter() - start:.1f} s, loss {float(m['loss']):.3f}"
        )
        box = [state]

        def run_xling():
            box[0], m = step(box[0], batch)
            jax.block_until_ready(m)

        results["xling"] = median_time(run_xling, _REPEATS.value)
        del box, state, step
    if "torch" in sides:
        import torch
        from transformers import AutoModelForCausalLM

        torch.manual_seed(0)
        hf = AutoModelForCausalLM.from_pretrained(
            str(ours.path.parent), gguf_file=ours.path.name, dtype=torch.float32
        ).train()
        opt = torch.optim.AdamW(hf.parameters(), lr=2e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                                foreach=True)  # fmt: skip
        hf_ids = torch.as_tensor(ids, dtype=torch.long)
        print(f"torch threads: {torch.get_num_threads()}, attention: {hf.config._attn_implementation}")

        def run_torch():
            loss = hf(input_ids=hf_ids, labels=hf_ids).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        start = time.perf_counter()
        run_torch()
        print(f"torch first step: {time.perf_counter() - start:.1f} s")
        results["torch"] = median_time(run_torch, _REPEATS.value)
    print("| workload | xling tok/s | PyTorch tok/s | ratio | xling GFLOP/s (peak) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    x, p = results.get("xling", float("nan")), results.get("torch", float("nan"))
    print(
        f"| train step B={b} T={t}, AdamW, fp32, remat={_REMAT.value} | {tokens / x:,.1f} ({x:.1f} s) "
        f"| {tokens / p:,.1f} ({p:.1f} s) | {p / x:.2f}x | {flops / x / 1e9:.0f} ({peak:.0f}) |"
    )


if __name__ == "__main__":
    app.run(main)

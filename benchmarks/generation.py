"""Batched greedy generation on CPU, fp32: xling's on-device loop vs transformers `generate`.

    python benchmarks/generation.py                      # B=16 prompts (20-200 tokens), 32 new tokens
    python benchmarks/generation.py --batch=4 --new=8    # a quick check

Workload: the real Gemma 3 270M from the default GGUF. Prompts are cut from the shipped
multilingual paragraphs (xling/data/lens_text, 13 languages) at lengths spread evenly
over [20, 200] tokens; both sides get the same token ids. Greedy, exactly `--new`
tokens per row (xling: eos_ids=(); HF: min_new_tokens).

HF recipe (what users do): left padding, attention_mask, pad_token_id, do_sample=False.
Prefill = a call with max_new_tokens=1 (one forward over the padded batch, plus the first
token); decode = (full call - prefill), i.e. the remaining new - 1 steps. Rates count real
tokens: prompt tokens without padding for prefill, B x (new - 1) for decode.
Then the decode bound: bytes read per step against a measured copy bandwidth, FLOPs
against the measured matmul peak, and a one-step profile of xling's decode.
Prints markdown rows for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from absl import app, flags
from timing import matmul_peak, median_time

_B = flags.DEFINE_integer("batch", 16, "prompts per batch")
_NEW = flags.DEFINE_integer("new", 32, "new tokens per prompt")
_MIN = flags.DEFINE_integer("min_len", 20, "shortest prompt, tokens")
_MAX = flags.DEFINE_integer("max_len", 200, "longest prompt, tokens")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed repetitions (median reported)")
_PROFILE = flags.DEFINE_bool("profile", True, "time single decode steps and the memory bandwidth")

TEXT = Path(__file__).resolve().parents[1] / "xling" / "data" / "lens_text"


def build_prompts(tokenizer, b: int, lo: int, hi: int) -> list[list[int]]:
    """b token-id rows (BOS first) of lengths spread evenly over [lo, hi], one language per row
    in turn; each row is the start of that language's paragraphs joined together."""
    docs: dict[str, list[str]] = {}
    for name in ("heldout.jsonl", "train.jsonl"):
        for line in (TEXT / name).read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            docs.setdefault(d["lang"], []).append(d["text"])
    langs = sorted(docs)
    lengths = np.linspace(lo, hi, b).round().astype(int) if b > 1 else np.asarray([hi])
    rows = []
    for i, n in enumerate(lengths):
        ids = tokenizer.encode("\n\n".join(docs[langs[i % len(langs)]]))
        if len(ids) < n:
            raise ValueError(f"{langs[i % len(langs)]}: only {len(ids)} tokens of text, {n} needed")
        rows.append([int(t) for t in ids[:n]])
    return rows


def copy_bandwidth(mb: int = 1024) -> float:
    """GB/s of a numpy copy of an `mb` MB fp32 array (read + write counted)."""
    a = np.ones(mb * 2**20 // 4, np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)
    return 2 * a.nbytes / median_time(lambda: np.copyto(b, a), 5) / 1e9


def decode_step_profile(model, b: int, slots: int, repeats: int) -> dict[str, float]:
    """Seconds for one cached decode step of b rows against a cache of `slots` slots, jitted
    alone: the whole step, the step without the unembedding (also against a 32-slot cache),
    the unembedding alone."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from xling.models.decoder import KVCache

    cfg = model.cfg
    graphdef, state = nnx.split(model)
    cache = KVCache.empty(cfg, b, slots)
    cache = cache.replace(valid=jnp.ones_like(cache.valid).at[:, -1].set(False), index=jnp.asarray(slots - 1))
    tok = jnp.ones((b, 1), jnp.int32)
    mask = jnp.ones((b, 1), bool)

    @jax.jit
    def step(state, cache, tok, mask):
        out = nnx.merge(graphdef, state)(tok, mask, cache=cache, return_logits="last")
        return jnp.argmax(out.logits[:, -1], -1), out.cache

    @jax.jit
    def body_only(state, cache, tok, mask):
        out = nnx.merge(graphdef, state)(tok, mask, cache=cache, return_logits=False, return_final=True)
        return out.final, out.cache

    @jax.jit
    def unembed(state, h):
        m = nnx.merge(graphdef, state)
        return jnp.argmax(m.readout(h), -1)

    h = jnp.ones((b, 1, cfg.d_model), cfg.compute_dtype)
    small = KVCache.empty(cfg, b, 32)
    small = small.replace(valid=jnp.ones_like(small.valid).at[:, -1].set(False), index=jnp.asarray(31))
    out = {}
    for name, fn, args in (
        ("step", step, (state, cache, tok, mask)),
        ("body", body_only, (state, cache, tok, mask)),
        ("body32", body_only, (state, small, tok, mask)),
        ("unembed", unembed, (state, h)),
    ):
        jax.block_until_ready(fn(*args))
        out[name] = median_time(lambda fn=fn, args=args: jax.block_until_ready(fn(*args)), repeats)
    return out


def flops_per_token(cfg) -> float:
    """Matmul FLOPs of the blocks per token (attention scores excluded: small here)."""
    per_layer = 2 * cfg.d_model * (cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim
    per_layer += 2 * cfg.num_heads * cfg.head_dim * cfg.d_model + 3 * 2 * cfg.d_model * cfg.mlp_dim
    return cfg.num_layers * per_layer


def main(_):
    import jax
    import torch
    from flax import nnx
    from transformers import AutoModelForCausalLM

    import xling
    from xling.inference.generation import generate_ids

    b, new, repeats = _B.value, _NEW.value, _REPEATS.value
    ours = xling.load("gemma3-270m")
    cfg, tok = ours.config, ours.tokenizer
    hf = AutoModelForCausalLM.from_pretrained(
        str(ours.path.parent), gguf_file=ours.path.name, dtype=torch.float32
    ).eval()
    rows = build_prompts(tok, b, _MIN.value, _MAX.value)
    prompt_tokens = sum(map(len, rows))
    width = max(map(len, rows))
    pad = tok.pad_id

    # --- xling: compile (first call) then steady-state medians.
    def ours_run(n):
        return generate_ids(ours.model, tok, rows, max_new_tokens=n, eos_ids=())

    compile_s = {}
    for n in (1, new):
        start = time.perf_counter()
        ours_run(n)
        compile_s[n] = time.perf_counter() - start

    # --- HF: left-padded batch, attention mask, pad_token_id, greedy.
    ids = torch.full((b, width), pad, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.as_tensor(r)
        mask[i, width - len(r) :] = 1

    def hf_run(n):
        with torch.no_grad():
            return hf.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=pad,
                top_p=None,
                top_k=None,
            )[:, width:]

    hf_run(1)  # warm-up
    hf_run(new)

    # Interleave the two sides so a change in machine load hits both alike.
    times = {k: [] for k in ("x1", "xn", "h1", "hn")}
    for _ in range(repeats):
        for key, fn in (("x1", lambda: ours_run(1)), ("xn", lambda: ours_run(new))):
            times[key].append(median_time(fn, 1))
        for key, fn in (("h1", lambda: hf_run(1)), ("hn", lambda: hf_run(new))):
            times[key].append(median_time(fn, 1))
    t = {k: float(np.median(v)) for k, v in times.items()}

    got = ours_run(new).tokens
    ref = hf_run(new).numpy()
    same_rows = int((got == ref).all(1).sum())
    first_diff = [int(np.argmax(g != r)) if (g != r).any() else new for g, r in zip(got, ref, strict=True)]

    decode_tokens = b * (new - 1)
    x_pre, x_dec = t["x1"], t["xn"] - t["x1"]
    h_pre, h_dec = t["h1"], t["hn"] - t["h1"]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0]}, "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"prompts: {b} rows, {min(map(len, rows))}-{width} tokens ({prompt_tokens} real tokens), {new} new tokens"
    )
    print(
        f"xling first calls (compile + run): prefill {compile_s[1]:.1f} s, full {compile_s[new]:.1f} s "
        f"-> compile ~{compile_s[1] - x_pre:.1f} s + {compile_s[new] - t['xn']:.1f} s"
    )
    print(
        f"agreement: {same_rows}/{b} rows identical over {new} tokens; first differing step per row: {first_diff}"
    )
    print(
        "| workload | xling prefill tok/s | HF prefill tok/s | ratio | xling decode tok/s | HF decode tok/s | ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| greedy B={b}, prompts {min(map(len, rows))}-{width} tok, {new} new, fp32 "
        f"| {prompt_tokens / x_pre:,.0f} ({x_pre * 1e3:.0f} ms) | {prompt_tokens / h_pre:,.0f} ({h_pre * 1e3:.0f} ms) "
        f"| {h_pre / x_pre:.2f}x | {decode_tokens / x_dec:,.0f} ({x_dec / (new - 1) * 1e3:.0f} ms/step) "
        f"| {decode_tokens / h_dec:,.0f} ({h_dec / (new - 1) * 1e3:.0f} ms/step) | {h_dec / x_dec:.2f}x |"
    )

    if not _PROFILE.value:
        return
    # --- What bounds a decode step: weights read once per step for the whole batch.
    params = sum(x.size for x in jax.tree.leaves(nnx.state(ours.model)))
    itemsize = np.dtype(cfg.compute_dtype).itemsize
    weight_bytes = params * itemsize
    embed_bytes = cfg.vocab_size * cfg.d_model * itemsize
    slots = -(-width // 32) * 32 + new  # xling's bucketed cache
    cache_bytes = 2 * cfg.num_layers * b * slots * cfg.num_kv_heads * cfg.head_dim * itemsize
    step_flops = b * (flops_per_token(cfg) + 2 * cfg.d_model * cfg.vocab_size)
    bw = copy_bandwidth()
    peak = matmul_peak("float32")
    prof = decode_step_profile(ours.model, b, slots, 5)
    x_step = x_dec / (new - 1)
    hx = torch.ones((b, 1, cfg.d_model))
    with torch.no_grad():
        hf_unembed = lambda: hf.lm_head(hf.model.norm(hx)).argmax(-1)  # noqa: E731
        hf_unembed()
        hf_unembed_s = median_time(hf_unembed, 5)
    print(
        f"per decode step: weights {weight_bytes / 1e9:.2f} GB (unembedding {embed_bytes / 1e9:.2f} GB), "
        f"KV cache {cache_bytes / 1e9:.3f} GB; {step_flops / 1e9:.1f} GFLOP"
    )
    print(f"measured: copy bandwidth {bw:.1f} GB/s, fp32 matmul peak {peak:.0f} GFLOP/s")
    print(
        f"floors: memory {weight_bytes / 1e9 / bw * 1e3:.0f} ms/step (weights only), "
        f"compute {step_flops / peak / 1e9 * 1e3:.0f} ms/step; in-loop step: xling {x_step * 1e3:.0f} ms, "
        f"HF {h_dec / (new - 1) * 1e3:.0f} ms"
    )
    print(
        f"one decode step jitted alone (B={b}, {slots} slots): step {prof['step'] * 1e3:.0f} ms, "
        f"blocks only {prof['body'] * 1e3:.0f} ms (with a 32-slot cache: {prof['body32'] * 1e3:.0f} ms), "
        f"unembedding + argmax only {prof['unembed'] * 1e3:.0f} ms (HF lm_head + argmax: {hf_unembed_s * 1e3:.0f} ms)"
    )
    print(
        f"effective bandwidth of the in-loop step: {weight_bytes / x_step / 1e9:.1f} GB/s xling, "
        f"{weight_bytes / (h_dec / (new - 1)) / 1e9:.1f} GB/s HF (weights only)"
    )


if __name__ == "__main__":
    app.run(main)

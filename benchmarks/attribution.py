"""AttnLRP relevance of one answer token, CPU fp32: xling vs LXT 2.1 on transformers.

    python benchmarks/attribution.py                      # Gemma 3 270M, B=8, T=256
    python benchmarks/attribution.py --batch=2 --length=64

Both explain the logit of each row's top next token at the last position, with respect to
the residual stream after the embedding and after every layer (sum_d h * grad), on the same
token ids (rows cut from the shipped English paragraphs to exactly `length` tokens).
xling: `xling.attribution.relevance` (jitted, each layer rematerialised; timed warm, after
one compile, and cold). LXT: `xling.attribution.lxt_reference.relevance` (LXT's AttnLRP
patches, eager attention, one forward and one backward of the batch). Prints the timing,
the per-layer agreement and a markdown row for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
from absl import app, flags

_MODEL = flags.DEFINE_string("model", "gemma3-270m", "registry name (family gemma3 or llama)")
_B = flags.DEFINE_integer("batch", 8, "prompts")
_T = flags.DEFINE_integer("length", 256, "tokens per prompt")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed runs of each (the median is reported)")
_REMAT = flags.DEFINE_string("remat", "full", "xling's per-layer rematerialisation: full, dots or none")


def _rows(tokenizer, batch: int, length: int) -> np.ndarray:
    from xling.knowledge.surface import load_paragraphs

    text = " ".join(t for _, t in load_paragraphs(""))
    ids = tokenizer.encode(text)
    step = max(1, (len(ids) - length) // max(batch - 1, 1))
    rows = [ids[:1] + ids[1 + k * step : k * step + length] for k in range(batch)]
    if any(len(r) != length for r in rows):
        raise SystemExit(f"the shipped paragraphs give {len(ids)} tokens, too few for {batch} x {length}")
    return np.array(rows, np.int32)


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main(_):
    import jax
    import torch
    from transformers import AutoModelForCausalLM

    import xling
    from xling.attribution import lxt_reference
    from xling.attribution.relevance import relevance

    m = xling.load(_MODEL.value)
    family = m.model.cfg.family
    ids = _rows(m.tokenizer, _B.value, _T.value)
    b, t = ids.shape
    pos = np.full(b, t - 1)

    def ours():
        r = relevance(m.model, ids, None, pos, np.full(b, -1), remat=_REMAT.value)
        jax.block_until_ready(r.relevance)
        return r

    start = time.perf_counter()
    first = ours()
    cold = time.perf_counter() - start
    warm, res = _median_time(ours, _REPEATS.value)
    top = np.asarray(res.ids[:, 0])

    hf = AutoModelForCausalLM.from_pretrained(
        str(m.path.parent), gguf_file=m.path.name, dtype=torch.float32
    ).eval()
    lxt_time, (ref, ref_logits) = _median_time(
        lambda: lxt_reference.relevance(hf, family, ids, pos, top), _REPEATS.value
    )
    rel = np.asarray(res.relevance)
    err = (np.abs(rel - ref).max(axis=(1, 2)) / np.abs(ref).max(axis=(1, 2))).max()
    dev0 = np.abs(rel[0].sum(-1) - np.asarray(res.value)) / np.abs(np.asarray(res.value))
    devl = np.abs(rel[-1].sum(-1) - np.asarray(res.value)) / np.abs(np.asarray(res.value))
    assert np.array_equal(np.asarray(first.relevance), rel)
    print(f"{_MODEL.value}, B={b}, T={t}, fp32, {os.cpu_count()} CPU cores ({platform.machine()}), "
          f"jax {jax.__version__}, torch {torch.__version__}")  # fmt: skip
    print(
        f"xling (remat={_REMAT.value}): {warm:.2f} s warm (median of {_REPEATS.value}), {cold:.2f} s cold (compile included)"
    )
    print(f"LXT:   {lxt_time:.2f} s (median of {_REPEATS.value})")
    print(f"ratio (LXT / xling warm): {lxt_time / warm:.2f}x; cold: {lxt_time / cold:.2f}x")
    print(f"max per-layer |xling - LXT| / max |R|: {err:.2e}; logits max |diff| "
          f"{np.abs(np.asarray(res.value) - ref_logits).max():.2e}")  # fmt: skip
    print(f"conservation |sum R - logit| / |logit|: last layer max {devl.max():.2e}, "
          f"embeddings median {np.median(dev0):.3f}")  # fmt: skip
    print(f"\n| {_MODEL.value} | {b} x {t} | {_REMAT.value} | {warm:.2f} s | {cold:.2f} s | {lxt_time:.2f} s | "
          f"**{lxt_time / warm:.2f}x** | {err:.1e} |")  # fmt: skip


if __name__ == "__main__":
    app.run(main)

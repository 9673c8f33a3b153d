"""Greedy decoding with a KV cache: one prefill, then a scanned loop of single-token steps."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from xling.models.decoder import Decoder, KVCache


def greedy_generate(
    model: Decoder,
    tokens: np.ndarray | jax.Array,
    attention_mask: np.ndarray | jax.Array,
    max_new_tokens: int,
    eos_id: int | None = None,
) -> np.ndarray:
    """[B, T] left-padded prompts -> [B, max_new_tokens] new ids; after EOS, the pad id."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    graphdef, state = nnx.split(model)
    eos = -1 if eos_id is None else eos_id
    out = _greedy(
        graphdef, state, jnp.asarray(tokens), jnp.asarray(attention_mask, bool), max_new_tokens, eos
    )
    return np.asarray(out)


@functools.partial(jax.jit, static_argnames=("graphdef", "max_new_tokens"))
def _greedy(graphdef, state, tokens, mask, max_new_tokens: int, eos):
    model: Decoder = nnx.merge(graphdef, state)
    pad = model.cfg.pad_id
    b, t = tokens.shape
    cache = KVCache.empty(model.cfg, b, t + max_new_tokens)
    out = model(tokens, mask, cache=cache, return_logits="last")
    first = jnp.argmax(out.logits[:, -1], axis=-1).astype(jnp.int32)

    def step(carry, _):
        tok, cache, done = carry
        out = model(tok[:, None], jnp.ones((b, 1), bool), cache=cache, return_logits="last")
        nxt = jnp.argmax(out.logits[:, -1], axis=-1).astype(jnp.int32)
        nxt = jnp.where(done, pad, nxt)
        return (nxt, out.cache, done | (nxt == eos)), tok

    (last, _, _), emitted = jax.lax.scan(
        step, (first, out.cache, first == eos), None, length=max_new_tokens - 1
    )
    return jnp.concatenate([emitted.T, last[:, None]], axis=1)

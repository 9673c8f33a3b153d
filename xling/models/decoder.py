"""The shared llama-like decoder: blocks stacked on a leading `layers` axis and scanned.

Scanning keeps compile time flat in depth. Per-layer differences (sliding vs
global attention, their RoPE bases) are data scanned alongside the weights,
so every layer runs the same traced code.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx, struct

from xling.errors import XlingError
from xling.models.config import ModelConfig
from xling.models.layers import MLP, Attention, Norm, SharedPrefix, _param, rope_tables, softcap
from xling.models.rules import relevance_tap
from xling.partitioning import constrain


class CacheOverflowError(XlingError, ValueError):
    """More tokens than a KV cache has slots."""


@struct.dataclass
class KVCache:
    """Keys/values of every layer in fixed slots; `index` is the next slot to write."""

    keys: jax.Array  # [L, B, S, K, hd]
    values: jax.Array  # [L, B, S, K, hd]
    valid: jax.Array  # [B, S] bool: slot holds a real (non-padding) token
    positions: jax.Array  # [B, S] int32: position of the token in each slot (for ALiBi)
    index: jax.Array  # [] int32

    @classmethod
    def empty(cls, cfg: ModelConfig, batch: int, length: int) -> KVCache:
        shape = (cfg.num_layers, batch, length, cfg.num_kv_heads, cfg.head_dim)
        return cls(
            keys=jnp.zeros(shape, cfg.compute_dtype),
            values=jnp.zeros(shape, cfg.compute_dtype),
            valid=jnp.zeros((batch, length), bool),
            positions=jnp.zeros((batch, length), jnp.int32),
            index=jnp.zeros((), jnp.int32),
        )

    @property
    def size(self) -> int:
        return self.valid.shape[1]

    def check_room(self, new_tokens: int) -> None:
        """Raise if `new_tokens` do not fit. Static shapes are checked even under jit; the
        write index only when it is concrete (a jitted caller sizes its cache itself)."""
        if new_tokens > self.size:
            raise CacheOverflowError(f"{new_tokens} tokens do not fit a KV cache of {self.size} slots")
        if isinstance(self.index, jax.core.Tracer):
            return
        used = int(self.index)
        if used + new_tokens > self.size:
            raise CacheOverflowError(
                f"KV cache overflow: {used} of {self.size} slots used, {new_tokens} more tokens given"
            )


@struct.dataclass
class DecoderOutput:
    """logits: [B, T, V] (None if not requested); hidden_states: [L + 1, B, T, D] or None.

    hidden_states[0] is the (scaled) embedding output and hidden_states[l] the
    residual stream after block l; the last entry is taken before the final norm.
    """

    logits: jax.Array | None
    hidden_states: jax.Array | None = None
    cache: KVCache | None = None
    final: jax.Array | None = None  # [B, T, D], the last block's output, if requested


def _embed_norm(cfg: ModelConfig) -> Norm:
    return Norm((cfg.d_model,), ("embed",), cfg)


class Block(nnx.Module):
    """Pre-norm residual block, with optional norms on the branch outputs (Gemma 2/3, OLMo 2)."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        if cfg.pre_norm:
            self.attn_norm = _embed_norm(cfg)
            self.ffn_norm = _embed_norm(cfg)
        self.attn = Attention(cfg, rngs=rngs)
        self.mlp = MLP(cfg, rngs=rngs)
        if cfg.post_attn_norm:
            self.post_attn_norm = _embed_norm(cfg)
        if cfg.post_ffn_norm:
            self.post_ffn_norm = _embed_norm(cfg)

    def _maybe(self, name: str, x: jax.Array) -> jax.Array:
        return getattr(self, name)(x) if hasattr(self, name) else x

    def __call__(self, x, cos, sin, mask, kv_positions, cache_kv, write_index, prefix=None):
        """One layer. cache_kv: (keys, values) of this layer's cache, or None; prefix: this
        layer's `SharedPrefix`, or None."""
        h = self._maybe("attn_norm", x)
        k, v = self.attn.project_kv(h, cos, sin)
        if cache_kv is not None:
            start = (0, write_index, 0, 0)
            k = jax.lax.dynamic_update_slice(cache_kv[0], k.astype(cache_kv[0].dtype), start)
            v = jax.lax.dynamic_update_slice(cache_kv[1], v.astype(cache_kv[1].dtype), start)
        h = self.attn(h, cos, sin, k, v, mask, kv_positions, prefix)
        x = x + self._maybe("post_attn_norm", h)
        h = self.mlp(self._maybe("ffn_norm", x))
        return x + self._maybe("post_ffn_norm", h), (k, v)


def _stacked_blocks(cfg: ModelConfig, rngs: nnx.Rngs) -> Block:
    @nnx.split_rngs(splits=cfg.num_layers)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make(rngs: nnx.Rngs) -> Block:
        return Block(cfg, rngs=rngs)

    return make(rngs)


class Decoder(nnx.Module):
    """Token ids in, logits (and optionally every layer's residual stream) out."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed = _param(rngs, (cfg.vocab_size, cfg.d_model), ("vocab", "embed"), cfg.weight_dtype)
        if cfg.position_type == "learned":
            self.pos_embed = _param(
                rngs, (cfg.max_seq_len, cfg.d_model), ("length", "embed"), cfg.weight_dtype
            )
        if cfg.embed_norm:
            self.embed_norm = _embed_norm(cfg)
        self.blocks = _stacked_blocks(cfg, rngs)
        self.final_norm = _embed_norm(cfg)
        if not cfg.tie_embeddings:
            self.lm_head = _param(rngs, (cfg.d_model, cfg.vocab_size), ("embed", "vocab"), cfg.weight_dtype)

    def embed_tokens(self, tokens: jax.Array, positions: jax.Array) -> jax.Array:
        """The input of block 0 (hidden_states[0])."""
        cfg = self.cfg
        table = self.embed[...]
        x = jnp.take(table, tokens, axis=0)
        if cfg.embed_scale != 1.0:
            # Scale in the parameter dtype, as the reference implementations do.
            x = x * jnp.asarray(cfg.embed_scale, table.dtype)
        x = x.astype(cfg.compute_dtype)
        if cfg.position_type == "learned":
            x = x + jnp.take(self.pos_embed[...], positions, axis=0).astype(x.dtype)
        if cfg.embed_norm:
            x = self.embed_norm(x)
        return x

    def readout(self, h: jax.Array) -> jax.Array:
        """Final norm + unembedding (+ softcap): the one readout the lens reuses."""
        return self.unembed(self.final_norm(h))

    def unembedding_rows(self, start: int = 0, size: int | None = None) -> jax.Array:
        """Rows [start, start + size) of the unembedding as [size, D] (tied or not)."""
        size = self.cfg.vocab_size - start if size is None else size
        if self.cfg.tie_embeddings:
            return jax.lax.dynamic_slice_in_dim(self.embed[...], start, size, axis=0)
        return jax.lax.dynamic_slice_in_dim(self.lm_head[...], start, size, axis=1).T

    def unembed(self, normed: jax.Array, rows: jax.Array | None = None) -> jax.Array:
        """fp32 logits of already-normed states against `rows` ([V', D]; default all)."""
        rows = self.unembedding_rows() if rows is None else rows
        logits = jnp.einsum("...d,vd->...v", normed, rows.astype(normed.dtype)).astype(jnp.float32)
        return self.softcap(logits)

    def softcap(self, logits: jax.Array) -> jax.Array:
        cap = self.cfg.final_logit_softcap
        return softcap(logits, cap, self.cfg.rules) if cap else logits

    def __call__(
        self,
        tokens: jax.Array,
        attention_mask: jax.Array | None = None,
        *,
        positions: jax.Array | None = None,
        cache: KVCache | None = None,
        prefix: KVCache | None = None,
        return_hidden: bool = False,
        return_logits: bool | str = True,
        return_final: bool = False,
        probes: jax.Array | None = None,
        segment_ids: jax.Array | None = None,
    ) -> DecoderOutput:
        """tokens, attention_mask: [B, T] (left padding: mask 0 on the pads).

        Without `positions`, a token's position is the number of real tokens
        before it, so a left-padded row equals the same prompt run alone.
        With a cache, the T tokens are written at slots index..index+T-1.
        With `prefix` (a filled cache of G rows, G dividing B), each run of B / G
        consecutive rows continues its group's prefix; the prefix is read in place,
        never copied per row. With both, the rows continue prefix + cache: the prefix is
        only read (decode writes just the small cache, not a copy of the prefix per step).
        return_logits: True (every position), "last" (only the last, [B, 1, V]) or False.
        return_final: also return the last block's output (before the final norm).
        probes: [L + 1, B, T] zeros; their gradient is each residual stream's relevance
        `sum_d h * grad` (`rules.relevance_tap`; see xling.attribution).
        segment_ids: [B, T] ints for packed rows (training): a token attends only to earlier
        tokens of its own segment, and positions restart at 0 in each segment; not with a
        cache or prefix.
        """
        cfg = self.cfg
        b, t = tokens.shape
        if attention_mask is None:
            attention_mask = jnp.ones((b, t), bool)
        attention_mask = attention_mask.astype(bool)
        if cache is not None:
            cache.check_room(t)
        if prefix is not None and b % prefix.valid.shape[0]:
            raise ValueError(f"{b} rows do not divide into {prefix.valid.shape[0]} prefix groups")

        offset = jnp.zeros((b,), jnp.int32)
        if prefix is not None:
            per_group = prefix.valid.sum(-1).astype(jnp.int32)
            offset = offset + jnp.repeat(per_group, b // prefix.valid.shape[0])
        if cache is not None:
            offset = offset + cache.valid.sum(-1).astype(jnp.int32)
        if segment_ids is not None and (cache is not None or prefix is not None):
            raise ValueError("segment_ids (packed rows) cannot be combined with a cache or prefix")
        if positions is None and segment_ids is not None:
            positions = segment_positions(segment_ids)
        elif positions is None:
            positions = offset[:, None] + jnp.cumsum(attention_mask, axis=-1) - 1
            positions = jnp.maximum(positions, 0)
        positions = positions.astype(jnp.int32)
        if cache is None:
            q_slots, kv_valid, kv_positions, write_index = jnp.arange(t), attention_mask, positions, None
        else:
            q_slots = cache.index + jnp.arange(t)
            kv_valid = jax.lax.dynamic_update_slice(cache.valid, attention_mask, (0, cache.index))
            kv_positions = jax.lax.dynamic_update_slice(cache.positions, positions, (0, cache.index))
            write_index = cache.index

        kv_slots = jnp.arange(kv_valid.shape[1])
        causal = (kv_slots[None, :] <= q_slots[:, None])[None] & kv_valid[:, None, :]
        if segment_ids is not None:
            causal = causal & (segment_ids[:, :, None] == segment_ids[:, None, :])
        masks = {False: causal, True: causal}
        tables = {False: rope_tables(positions, cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)}
        tables[True] = tables[False]
        if cfg.local_rope_theta is not None:
            tables[True] = rope_tables(positions, cfg.head_dim, cfg.local_rope_theta)
        # The window is measured in positions, not cache slots: a row's real tokens need not
        # sit in contiguous slots (left padding, then a padded tail appended to a cache).
        if any(cfg.is_local):
            masks[True] = causal & _in_window(positions, kv_positions, cfg.sliding_window)
        prefix_masks = None
        if prefix is not None:
            rows = b // prefix.valid.shape[0]
            p_valid = jnp.repeat(prefix.valid, rows, axis=0)[:, None, :]  # [B, 1, P]
            p_positions = jnp.repeat(prefix.positions, rows, axis=0)
            prefix_masks = {False: jnp.broadcast_to(p_valid, (b, t, p_valid.shape[-1]))}
            prefix_masks[True] = prefix_masks[False]
            if any(cfg.is_local):
                prefix_masks[True] = p_valid & _in_window(positions, p_positions, cfg.sliding_window)

        def layer(block: Block, x, is_local, cache_kv, prefix_kv):
            cos, sin = jax.tree.map(lambda lo, gl: jnp.where(is_local, lo, gl), tables[True], tables[False])
            mask = jnp.where(is_local, masks[True], masks[False])
            shared = None
            if prefix_kv is not None:
                p_mask = jnp.where(is_local, prefix_masks[True], prefix_masks[False])
                shared = SharedPrefix(prefix_kv[0], prefix_kv[1], p_mask, prefix.positions)
            x, kv = block(x, cos, sin, mask, kv_positions, cache_kv, write_index, shared)
            return constrain(x, ("batch", "length", "embed")), kv

        x = x0 = constrain(self.embed_tokens(tokens, positions), ("batch", "length", "embed"))
        if probes is not None:
            x = x0 = relevance_tap(x, probes[0])
        is_local = jnp.asarray(cfg.is_local)
        cache_kv = None if cache is None else (cache.keys, cache.values)
        prefix_kv = None if prefix is None else (prefix.keys, prefix.values)
        x, hidden, new_kv = _run_layers(
            self.blocks,
            layer,
            x,
            is_local,
            cache_kv,
            prefix_kv,
            None if probes is None else probes[1:],
            scan=cfg.scan_layers,
            collect=return_hidden,
            remat=cfg.remat,
        )

        hidden_states = None
        if return_hidden:
            hidden_states = jnp.concatenate([x0[None], hidden], axis=0)
        new_cache = None
        if cache is not None:
            new_cache = KVCache(new_kv[0], new_kv[1], kv_valid, kv_positions, cache.index + t)
        final = x if return_final else None
        if return_logits == "last":
            x = x[:, -1:]
        logits = constrain(self.readout(x), ("batch", "length", "vocab")) if return_logits else None
        return DecoderOutput(logits=logits, hidden_states=hidden_states, cache=new_cache, final=final)

    def prefill(self, tokens: jax.Array, attention_mask: jax.Array, size: int | None = None) -> KVCache:
        """A cache of `size` slots (default: just the tokens) holding these tokens' keys/values."""
        b, t = tokens.shape
        cache = KVCache.empty(self.cfg, b, t if size is None else size)
        return self(tokens, attention_mask, cache=cache, return_logits=False).cache


def segment_positions(segment_ids: jax.Array) -> jax.Array:
    """[B, T] position of each token within its run of equal segment ids (0 at the run's
    first token). Packed rows put padding in a segment of its own (id 0, masked)."""
    t = segment_ids.shape[1]
    idx = jnp.arange(t)[None, :]
    start = jnp.concatenate(
        [jnp.ones_like(segment_ids[:, :1], bool), segment_ids[:, 1:] != segment_ids[:, :-1]], axis=1
    )
    first = jax.lax.cummax(jnp.where(start, idx, 0), axis=1)
    return (idx - first).astype(jnp.int32)


def _in_window(q_positions: jax.Array, kv_positions: jax.Array, window: int) -> jax.Array:
    """[B, T, S]: key within the last `window` positions of the query (HF's convention)."""
    return (q_positions[:, :, None] - kv_positions[:, None, :]) < window


_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def _run_layers(
    blocks: Block, layer, x, is_local, cache_kv, prefix_kv, probes, *, scan: bool, collect: bool, remat: str
):
    """Apply every layer; returns (x, per-layer outputs [L, ...] or None, per-layer (k, v)).
    probes: None or [L, B, T], tapped on each layer's output (`rules.relevance_tap`)."""
    graphdef, state = nnx.split(blocks)

    def body(x, xs):
        layer_state, local, kv, pkv, probe = xs
        x, new_kv = layer(nnx.merge(graphdef, layer_state), x, local, kv, pkv)
        if probe is not None:
            x = relevance_tap(x, probe)
        return x, (x if collect else None, new_kv if kv is not None else None)

    if remat != "none":
        # Recompute each layer's insides in the backward pass (training, attribution).
        body = jax.checkpoint(body, policy=_REMAT_POLICIES[remat], prevent_cse=not scan)
    xs = (state, is_local, cache_kv, prefix_kv, probes)
    if scan:
        x, (hidden, new_kv) = jax.lax.scan(body, x, xs)
        return x, hidden, new_kv
    outs = []
    for i in range(is_local.shape[0]):
        x, out = body(x, jax.tree.map(functools.partial(lambda i, a: a[i], i), xs))
        outs.append(out)
    hidden, new_kv = jax.tree.map(lambda *a: jnp.stack(a), *outs)
    return x, hidden, new_kv


def jit_forward(model: Decoder, *, return_hidden: bool = False, return_logits: bool | str = True):
    """A compiled `(tokens, attention_mask) -> DecoderOutput` bound to the model's current weights."""
    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(state, tokens, attention_mask):
        module = nnx.merge(graphdef, state)
        return module(tokens, attention_mask, return_hidden=return_hidden, return_logits=return_logits)

    def call(tokens, attention_mask=None) -> DecoderOutput:
        tokens = jnp.asarray(tokens)
        mask = jnp.ones(tokens.shape, bool) if attention_mask is None else jnp.asarray(attention_mask, bool)
        return forward(state, tokens, mask)

    return call

"""Building blocks of the shared decoder (Flax NNX).

Parameters carry `logical_axes` metadata; the sharding layer maps those names
to mesh axes. Kernels are stored input-first (`x @ kernel`), attention
projections with explicit head axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from xling.models.config import ModelConfig

# Large finite negative instead of -inf: a fully masked (padding) query row then
# gets a uniform, finite softmax instead of NaN.
MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)

_init = nnx.initializers.normal(stddev=0.02)


def _param(rngs: nnx.Rngs, shape: tuple[int, ...], axes: tuple[str, ...], dtype) -> nnx.Param:
    return nnx.Param(_init(rngs.params(), shape, dtype), logical_axes=axes)


class RMSNorm(nnx.Module):
    """RMSNorm computed in fp32; the weight is applied as `offset + w`."""

    def __init__(self, dim: int, cfg: ModelConfig, axis_name: str = "embed"):
        self.eps = cfg.norm_eps
        self.offset = cfg.norm_offset
        init = jnp.zeros if cfg.norm_offset else jnp.ones
        self.scale = nnx.Param(init((dim,), cfg.weight_dtype), logical_axes=(axis_name,))

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (normed * (self.offset + self.scale[...].astype(jnp.float32))).astype(x.dtype)


def rope_tables(
    positions: jax.Array, head_dim: int, theta: float, scale: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """cos/sin of shape [B, T, head_dim] (the half-split, non-interleaved convention)."""
    exponents = jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim
    inv_freq = 1.0 / (theta**exponents) / scale
    freqs = positions.astype(jnp.float32)[..., None] * inv_freq
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """x: [B, T, heads, head_dim]; cos/sin: [B, T, head_dim]."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    return (x * cos + rotated * sin).astype(x.dtype)


def activation_fn(name: str):
    return {
        "silu": jax.nn.silu,
        "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
        "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    }[name]


class Attention(nnx.Module):
    """Multi-head attention with grouped KV heads (MHA, GQA and MQA alike)."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, h, k, hd, dt = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.weight_dtype
        self.cfg = cfg
        self.q = _param(rngs, (d, h, hd), ("embed", "heads", "head_dim"), dt)
        self.k = _param(rngs, (d, k, hd), ("embed", "kv_heads", "head_dim"), dt)
        self.v = _param(rngs, (d, k, hd), ("embed", "kv_heads", "head_dim"), dt)
        self.o = _param(rngs, (h, hd, d), ("heads", "head_dim", "embed"), dt)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(hd, cfg, "head_dim")
            self.k_norm = RMSNorm(hd, cfg, "head_dim")

    def project_kv(self, x: jax.Array, cos: jax.Array, sin: jax.Array) -> tuple[jax.Array, jax.Array]:
        k = jnp.einsum("btd,dkh->btkh", x, self.k[...].astype(x.dtype))
        v = jnp.einsum("btd,dkh->btkh", x, self.v[...].astype(x.dtype))
        if self.cfg.qk_norm:
            k = self.k_norm(k)
        return apply_rope(k, cos, sin), v

    def __call__(
        self,
        x: jax.Array,
        cos: jax.Array,
        sin: jax.Array,
        keys: jax.Array,
        values: jax.Array,
        mask: jax.Array,
    ) -> jax.Array:
        """x: [B, T, D]; keys/values: [B, S, K, hd] (already roped); mask: [B, T, S]."""
        cfg = self.cfg
        q = jnp.einsum("btd,dnh->btnh", x, self.q[...].astype(x.dtype))
        if cfg.qk_norm:
            q = self.q_norm(q)
        q = apply_rope(q, cos, sin)
        b, t, _, hd = q.shape
        groups = cfg.num_heads // cfg.num_kv_heads
        q = q.reshape(b, t, cfg.num_kv_heads, groups, hd)
        logits = jnp.einsum("btkgh,bskh->bkgts", q, keys).astype(jnp.float32) * cfg.attn_scale
        if cfg.attn_logit_softcap:
            logits = jnp.tanh(logits / cfg.attn_logit_softcap) * cfg.attn_logit_softcap
        logits = jnp.where(mask[:, None, None, :, :], logits, MASK_VALUE)
        probs = jax.nn.softmax(logits, axis=-1).astype(values.dtype)
        out = jnp.einsum("bkgts,bskh->btkgh", probs, values).reshape(b, t, cfg.num_heads, hd)
        return jnp.einsum("btnh,nhd->btd", out, self.o[...].astype(x.dtype))


class GatedMLP(nnx.Module):
    """down(act(gate(x)) * up(x)): SwiGLU or GeGLU depending on the activation."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, f, dt = cfg.d_model, cfg.mlp_dim, cfg.weight_dtype
        self.act = activation_fn(cfg.activation)
        self.gate = _param(rngs, (d, f), ("embed", "mlp"), dt)
        self.up = _param(rngs, (d, f), ("embed", "mlp"), dt)
        self.down = _param(rngs, (f, d), ("mlp", "embed"), dt)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.act(x @ self.gate[...].astype(x.dtype)) * (x @ self.up[...].astype(x.dtype))
        return h @ self.down[...].astype(x.dtype)

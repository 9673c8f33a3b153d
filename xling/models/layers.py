"""Building blocks of the shared decoder (Flax NNX).

Parameters carry `logical_axes` metadata; the sharding layer maps those names
to mesh axes. Kernels are stored input-first (`x @ kernel`), attention
projections with explicit head axes.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from xling.models.config import ModelConfig, RopeScaling
from xling.models.rules import get_rules

# Large finite negative instead of -inf: a fully masked (padding) query row then
# gets a uniform, finite softmax instead of NaN.
MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)

_init = nnx.initializers.normal(stddev=0.02)


def _param(rngs: nnx.Rngs, shape: tuple[int, ...], axes: tuple[str, ...], dtype) -> nnx.Param:
    return nnx.Param(_init(rngs.params(), shape, dtype), logical_axes=axes)


def _zeros(shape: tuple[int, ...], axes: tuple[str, ...], dtype) -> nnx.Param:
    return nnx.Param(jnp.zeros(shape, dtype), logical_axes=axes)


class Norm(nnx.Module):
    """RMSNorm (weight applied as `offset + w`) or LayerNorm with bias, computed in fp32.

    Normalises over the trailing `len(shape)` axes, so one module also covers
    OLMo 2's q/k norm over a whole projection ([heads, head_dim]).
    """

    def __init__(
        self, shape: tuple[int, ...], axes: tuple[str, ...], cfg: ModelConfig, kind: str | None = None
    ):
        self.kind = kind or cfg.norm_type
        self.eps = cfg.norm_eps
        self.rules = cfg.rules
        self.offset = cfg.norm_offset if self.kind == "rms" else 0.0
        init = jnp.zeros if self.offset else jnp.ones
        self.scale = nnx.Param(init(shape, cfg.weight_dtype), logical_axes=axes)
        if self.kind == "layer":
            self.bias = _zeros(shape, axes, cfg.weight_dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        axes = tuple(range(-self.scale.ndim, 0))
        x32 = x.astype(jnp.float32)
        if self.kind == "layer":
            x32 = x32 - jnp.mean(x32, axis=axes, keepdims=True)
        inverse = jax.lax.rsqrt(jnp.mean(x32 * x32, axis=axes, keepdims=True) + self.eps)
        normed = x32 * get_rules(self.rules).normaliser(inverse)
        out = normed * (self.offset + self.scale[...].astype(jnp.float32))
        if self.kind == "layer":
            out = out + self.bias[...].astype(jnp.float32)
        return out.astype(x.dtype)


def _inv_freq(head_dim: int, theta: float, scaling: RopeScaling | None) -> jax.Array:
    inv_freq = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
    if scaling is None:
        return inv_freq
    if scaling.kind == "linear":
        return inv_freq / scaling.factor
    # Llama 3.1: long wavelengths slowed by `factor`, short ones kept, a smooth band between.
    old = scaling.original_max_position
    wavelen = 2 * math.pi / inv_freq
    scaled = jnp.where(wavelen > old / scaling.low_freq_factor, inv_freq / scaling.factor, inv_freq)
    smooth = (old / wavelen - scaling.low_freq_factor) / (scaling.high_freq_factor - scaling.low_freq_factor)
    smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
    medium = (wavelen >= old / scaling.high_freq_factor) & (wavelen <= old / scaling.low_freq_factor)
    return jnp.where(medium, smoothed, scaled)


def rope_tables(
    positions: jax.Array, head_dim: int, theta: float, scaling: RopeScaling | None = None
) -> tuple[jax.Array, jax.Array]:
    """cos/sin of shape [B, T, head_dim] (the half-split, non-interleaved convention)."""
    freqs = positions.astype(jnp.float32)[..., None] * _inv_freq(head_dim, theta, scaling)
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """x: [B, T, heads, head_dim]; cos/sin: [B, T, head_dim]."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    return (x * cos + rotated * sin).astype(x.dtype)


def alibi_slopes(num_heads: int) -> np.ndarray:
    """Per-head ALiBi slopes (Press et al.), with BLOOM's rule for non-powers of two."""
    closest = 2 ** math.floor(math.log2(num_heads))
    base = 2 ** (-(2 ** -(math.log2(closest) - 3)))
    slopes = [base**p for p in range(1, closest + 1)]
    if closest != num_heads:
        extra = 2 ** (-(2 ** -(math.log2(2 * closest) - 3)))
        slopes += [extra**p for p in range(1, 2 * min(closest, num_heads - closest), 2)]
    return np.asarray(slopes, np.float32)


def activation_fn(name: str, rules: str = "plain"):
    """The element-wise activation, wrapped in the rule set's `elementwise` rule."""
    fn = {
        "silu": jax.nn.silu,
        "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
        "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    }[name]
    if rules == "plain":
        return fn
    rule = get_rules(rules).elementwise
    return lambda x: rule(fn, x)


def softcap(x: jax.Array, cap: float, rules: str = "plain") -> jax.Array:
    """tanh(x / cap) * cap (Gemma 2's attention and final-logit caps), under the rule set's
    `elementwise` rule."""
    return get_rules(rules).elementwise(lambda z: jnp.tanh(z / cap) * cap, x)


class Attention(nnx.Module):
    """Multi-head attention with grouped KV heads (MHA, GQA and MQA alike)."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, h, k, hd, dt = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.weight_dtype
        self.cfg = cfg
        self.q = _param(rngs, (d, h, hd), ("embed", "heads", "head_dim"), dt)
        self.k = _param(rngs, (d, k, hd), ("embed", "kv_heads", "head_dim"), dt)
        self.v = _param(rngs, (d, k, hd), ("embed", "kv_heads", "head_dim"), dt)
        self.o = _param(rngs, (h, hd, d), ("heads", "head_dim", "embed"), dt)
        if cfg.qkv_bias:
            self.q_bias = _zeros((h, hd), ("heads", "head_dim"), dt)
            self.k_bias = _zeros((k, hd), ("kv_heads", "head_dim"), dt)
            self.v_bias = _zeros((k, hd), ("kv_heads", "head_dim"), dt)
        if cfg.out_bias:
            self.o_bias = _zeros((d,), ("embed",), dt)
        if cfg.qk_norm == "head":
            self.q_norm = Norm((hd,), ("head_dim",), cfg, "rms")
            self.k_norm = Norm((hd,), ("head_dim",), cfg, "rms")
        elif cfg.qk_norm == "proj":
            self.q_norm = Norm((h, hd), ("heads", "head_dim"), cfg, "rms")
            self.k_norm = Norm((k, hd), ("kv_heads", "head_dim"), cfg, "rms")

    def _project(self, x: jax.Array, name: str) -> jax.Array:
        out = jnp.einsum("btd,dnh->btnh", x, getattr(self, name)[...].astype(x.dtype))
        if self.cfg.qkv_bias:
            out = out + getattr(self, name + "_bias")[...].astype(x.dtype)
        if self.cfg.qk_norm and name in ("q", "k"):
            out = getattr(self, name + "_norm")(out)
        return out

    def project_kv(self, x: jax.Array, cos: jax.Array, sin: jax.Array) -> tuple[jax.Array, jax.Array]:
        k, v = self._project(x, "k"), self._project(x, "v")
        if self.cfg.position_type == "rope":
            k = apply_rope(k, cos, sin)
        return k, v

    def __call__(self, x, cos, sin, keys, values, mask, kv_positions, prefix=None) -> jax.Array:
        """x: [B, T, D]; keys/values: [B, S, K, hd] (already roped); mask: [B, T, S].

        prefix: optional `SharedPrefix` of this layer: G groups of keys every R = B / G
        consecutive rows attend to first, without being copied per row.
        """
        cfg = self.cfg
        q = self._project(x, "q")
        if cfg.position_type == "rope":
            q = apply_rope(q, cos, sin)
        q, keys, values = get_rules(cfg.rules).attention_inputs(q, keys, values)
        out = chunked_attention(cfg, q, keys, values, mask, kv_positions, prefix)
        out = jnp.einsum("btnh,nhd->btd", out.astype(x.dtype), self.o[...].astype(x.dtype))
        if cfg.out_bias:
            out = out + self.o_bias[...].astype(x.dtype)
        return out


@struct.dataclass
class SharedPrefix:
    """One layer's view of a prefix shared by groups of rows: keys/values [G, P, K, hd],
    mask [B, T, P] (which prefix slots each query may see), positions [G, P] (for ALiBi)."""

    keys: jax.Array
    values: jax.Array
    mask: jax.Array
    positions: jax.Array


def chunked_attention(cfg: ModelConfig, q, k, v, mask, kv_positions, prefix: SharedPrefix | None = None):
    """Attention output [B, T, N, hd]; queries go through in blocks of `cfg.attention_chunk`
    when there are more, bounding the logits at [B, N, chunk, S]."""
    t = q.shape[1]
    chunk = cfg.attention_chunk
    if not chunk or t <= chunk:
        return attention(cfg, q, k, v, mask, kv_positions, prefix)
    blocks = -(-t // chunk)
    pad = blocks * chunk - t

    def split(a):  # [B, T, ...] -> [blocks, B, chunk, ...]; padded queries see nothing
        a = jnp.pad(a, [(0, 0), (0, pad)] + [(0, 0)] * (a.ndim - 2))
        return jnp.moveaxis(a.reshape(a.shape[0], blocks, chunk, *a.shape[2:]), 1, 0)

    prefix_mask = None if prefix is None else split(prefix.mask)

    def block(xs):
        qb, mb, pm = xs
        pb = None if prefix is None else prefix.replace(mask=pm)
        return attention(cfg, qb, k, v, mb, kv_positions, pb)

    out = jax.lax.map(block, (split(q), split(mask), prefix_mask))
    out = jnp.moveaxis(out, 0, 1).reshape(q.shape[0], blocks * chunk, *q.shape[2:])
    return out[:, :t]


def attention(cfg: ModelConfig, q, k, v, mask, kv_positions, prefix: SharedPrefix | None = None):
    """softmax(q k^T * scale (+ ALiBi, softcap), masked) v for grouped KV heads: [B, T, N, hd].

    `jax.nn.dot_product_attention` (XLA, or cuDNN on GPU) where the family allows it; the
    explicit path for ALiBi, attention softcaps, a non-fp32 `attention_dtype` and shared
    prefixes. Both form the q.k product and the softmax in `attention_dtype`.
    """
    if prefix is None and not cfg.uses_explicit_attention:
        impl = cfg.attention_impl
        if impl == "auto":
            half = cfg.compute_dtype in (jnp.bfloat16, jnp.float16)
            impl = "cudnn" if half and jax.default_backend() == "gpu" else "xla"
        return jax.nn.dot_product_attention(
            q, k, v, mask=mask[:, None], scale=cfg.attn_scale, implementation=impl
        )
    b, t, n, hd = q.shape
    kh = cfg.num_kv_heads
    g = n // kh
    dt = jnp.dtype(cfg.attention_dtype)
    q5 = q.reshape(b, t, kh, g, hd)
    parts = [(jnp.einsum("btkgh,bskh->bkgts", q5, k, preferred_element_type=dt), mask, kv_positions)]
    if prefix is not None:
        groups = prefix.keys.shape[0]
        qg = q5.reshape(groups, b // groups, t, kh, g, hd)
        logits = jnp.einsum("grtkjh,gpkh->grkjtp", qg, prefix.keys, preferred_element_type=dt)
        positions = jnp.repeat(prefix.positions, b // groups, axis=0)  # [B, P] ints, cheap
        parts.insert(0, (logits.reshape(b, kh, g, t, -1), prefix.mask, positions))
    logits = jnp.concatenate([p[0] for p in parts], axis=-1) * jnp.asarray(cfg.attn_scale, dt)
    full_mask = jnp.concatenate([p[1] for p in parts], axis=-1)
    if cfg.position_type == "alibi":
        # slope * key position; the query's own offset cancels in the softmax.
        pos = jnp.concatenate([p[2] for p in parts], axis=-1).astype(dt)
        slopes = jnp.asarray(alibi_slopes(cfg.num_heads), dt).reshape(kh, g)
        logits = logits + slopes[None, :, :, None, None] * pos[:, None, None, None, :]
    if cfg.attn_logit_softcap:
        logits = softcap(logits, cfg.attn_logit_softcap, cfg.rules)
    logits = jnp.where(full_mask[:, None, None, :, :], logits, jnp.asarray(0.7 * jnp.finfo(dt).min, dt))
    probs = jax.nn.softmax(logits, axis=-1)
    if prefix is None:
        out = jnp.einsum("bkgts,bskh->btkgh", probs.astype(v.dtype), v)
    else:
        p_len = prefix.keys.shape[1]
        pp = probs[..., :p_len].astype(v.dtype).reshape(groups, b // groups, kh, g, t, p_len)
        out = jnp.einsum("grkjtp,gpkh->grtkjh", pp, prefix.values).reshape(b, t, kh, g, hd)
        out = out + jnp.einsum("bkgts,bskh->btkgh", probs[..., p_len:].astype(v.dtype), v)
    return out.reshape(b, t, n, hd)


class MLP(nnx.Module):
    """Gated (SwiGLU/GeGLU: down(act(gate x) * up x)) or dense (proj(act(fc x)))."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, f, dt = cfg.d_model, cfg.mlp_dim, cfg.weight_dtype
        self.act = activation_fn(cfg.activation, cfg.rules)
        self.rules = cfg.rules
        self.gated = cfg.mlp_type == "gated"
        if self.gated:
            self.gate = _param(rngs, (d, f), ("embed", "mlp"), dt)
        self.up = _param(rngs, (d, f), ("embed", "mlp"), dt)
        self.down = _param(rngs, (f, d), ("mlp", "embed"), dt)
        self.bias = cfg.mlp_bias
        if cfg.mlp_bias:
            self.up_bias = _zeros((f,), ("mlp",), dt)
            self.down_bias = _zeros((d,), ("embed",), dt)

    def __call__(self, x: jax.Array) -> jax.Array:
        # On [B * T, D] rows, not [B, T, D]: with two leading dimensions XLA's CPU backend
        # transposes the activation's gradient inside the elementwise fusion that feeds each
        # weight gradient (a strided write), which made the MLP backward ~1.5x slower.
        lead = x.shape[:-1]
        return self._rows(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)

    def _rows(self, x: jax.Array) -> jax.Array:
        up = x @ self.up[...].astype(x.dtype)
        if self.bias:
            up = up + self.up_bias[...].astype(x.dtype)
        if self.gated:
            rules = get_rules(self.rules)
            h = rules.product(rules.gate(self.act(x @ self.gate[...].astype(x.dtype))) * up)
        else:
            h = self.act(up)
        out = h @ self.down[...].astype(x.dtype)
        if self.bias:
            out = out + self.down_bias[...].astype(x.dtype)
        return out

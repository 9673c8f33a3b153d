"""The one configuration type shared by every llama-like decoder in xling."""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax.numpy as jnp

from xling.models.rules import get_rules

Activation = Literal["silu", "gelu_tanh", "gelu"]
LayerType = Literal["global", "local"]

_ACTIVATIONS = ("silu", "gelu_tanh", "gelu")
DTYPES = ("float32", "bfloat16", "float16")
CHOICES = {
    "norm_type": ("rms", "layer"),
    "qk_norm": (None, "head", "proj"),
    "mlp_type": ("gated", "dense"),
    "position_type": ("rope", "alibi", "learned"),
    # "auto": jax.nn.dot_product_attention (XLA; cuDNN flash attention on GPU) where the
    # family allows it, the explicit einsum path for ALiBi and attention softcaps.
    "attention_impl": ("auto", "explicit", "xla", "cudnn"),
    # Rematerialisation of each scanned layer in the backward pass: keep everything,
    # recompute everything, or keep only matmul outputs.
    "remat": ("none", "full", "dots"),
}


@dataclasses.dataclass(frozen=True)
class RopeScaling:
    """RoPE frequency scaling: "linear" (inv_freq / factor) or "llama3" (Llama 3.1's banded rule)."""

    kind: Literal["linear", "llama3"]
    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position: int = 8192


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of a decoder-only transformer.

    Every numerics-relevant choice is an explicit field: a family file translates
    its checkpoint's config into these fields and nothing else is consulted.
    """

    family: str
    vocab_size: int
    d_model: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    mlp_dim: int
    activation: Activation = "silu"
    mlp_type: Literal["gated", "dense"] = "gated"  # gated: down(act(gate x) * up x); dense: fc, act, proj
    norm_type: Literal["rms", "layer"] = "rms"  # layer: LayerNorm with bias (BLOOM, GPT-2)
    norm_eps: float = 1e-6
    # Gemma stores RMSNorm weights as w and applies (1 + w).
    norm_offset: float = 0.0
    # False: no norm before attention/MLP, only on their outputs (OLMo 2).
    pre_norm: bool = True
    # RMSNorm of queries/keys: per head over head_dim (Gemma 3, Qwen3) or over the whole projection (OLMo 2).
    qk_norm: Literal["head", "proj"] | None = None
    post_attn_norm: bool = False
    post_ffn_norm: bool = False
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    embed_scale: float = 1.0
    embed_norm: bool = False  # a norm right after the embedding (BLOOM)
    tie_embeddings: bool = True
    position_type: Literal["rope", "alibi", "learned"] = "rope"
    rope_theta: float = 10_000.0
    # Applies to the global layers' RoPE (and to local ones when they share it).
    rope_scaling: RopeScaling | None = None
    # RoPE base of sliding-window layers when it differs from the global one (Gemma 3).
    local_rope_theta: float | None = None
    sliding_window: int | None = None
    # One entry per layer; empty means every layer attends globally.
    layer_types: tuple[LayerType, ...] = ()
    # Attention logits are scaled by query_pre_attn_scalar**-0.5 (default: head_dim).
    query_pre_attn_scalar: float | None = None
    attn_logit_softcap: float | None = None
    final_logit_softcap: float | None = None
    max_seq_len: int = 8192
    bos_id: int | None = None
    # Every id that ends a generation (base EOS plus end-of-turn tokens of chat models).
    eos_ids: tuple[int, ...] = ()
    pad_id: int = 0
    dtype: str = "float32"  # activations
    param_dtype: str = "float32"
    # Precision of the q.k product and the softmax. fp32 by default so that a bf16 run
    # does not round attention logits to bf16.
    attention_dtype: str = "float32"
    attention_impl: str = "auto"
    # Queries are processed in blocks of this many tokens when a call has more, so the
    # [heads, T, S] attention logits never exceed [heads, chunk, S]; 0 disables it.
    attention_chunk: int = 1024
    remat: str = "none"
    scan_layers: bool = True
    # Gradient rules of the backward pass (xling.models.rules): "plain" for training and
    # gradient x input, "attnlrp" / "cp_lrp" for relevance. The forward pass is the same.
    rules: str = "plain"

    def __post_init__(self) -> None:
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {_ACTIVATIONS}")
        for name in ("dtype", "param_dtype", "attention_dtype"):
            if getattr(self, name) not in DTYPES:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {DTYPES}")
        get_rules(self.rules)  # an unknown rule set is an error here, naming the known ones
        if self.attention_chunk < 0:
            raise ValueError(f"attention_chunk must be >= 0, got {self.attention_chunk}")
        object.__setattr__(self, "eos_ids", tuple(int(i) for i in self.eos_ids))
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {choices}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) is not a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        if self.layer_types:
            if len(self.layer_types) != self.num_layers:
                raise ValueError(
                    f"layer_types has {len(self.layer_types)} entries for {self.num_layers} layers"
                )
            bad = set(self.layer_types) - {"global", "local"}
            if bad:
                raise ValueError(f"unknown layer types {sorted(bad)}; use 'global' or 'local'")
            if "local" in self.layer_types and not self.sliding_window:
                raise ValueError("local layers need a sliding_window")

    @property
    def eos_id(self) -> int | None:
        """The primary end-of-sequence id (the first of `eos_ids`)."""
        return self.eos_ids[0] if self.eos_ids else None

    @property
    def uses_explicit_attention(self) -> bool:
        """ALiBi and attention softcaps need the explicit path (the fused kernels lack them)."""
        return (
            self.attention_impl == "explicit"
            or self.position_type == "alibi"
            or bool(self.attn_logit_softcap)
            or self.attention_dtype != "float32"
        )

    @property
    def is_local(self) -> tuple[bool, ...]:
        if not self.layer_types:
            return (False,) * self.num_layers
        return tuple(t == "local" for t in self.layer_types)

    @property
    def attn_scale(self) -> float:
        return float(self.query_pre_attn_scalar or self.head_dim) ** -0.5

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.dtype)

    @property
    def weight_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.param_dtype)

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)

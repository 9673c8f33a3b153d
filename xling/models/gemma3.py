"""Gemma 3 (text): config translation from GGUF metadata and the GGUF key map.

What GGUF does not store, llama.cpp hard-codes for this architecture, and so
do we: the 5 local : 1 global layer pattern, the 10k RoPE base of local
layers, and query_pre_attn_scalar (head_dim, except for the 27B model).
"""

from __future__ import annotations

import math
from typing import Any

from xling.errors import UnsupportedError
from xling.models.config import ModelConfig, RopeScaling
from xling.models.keymap import rules

GGUF_ARCHITECTURES = ("gemma3",)
SLIDING_WINDOW_PATTERN = 6
LOCAL_ROPE_THETA = 10_000.0

_GGUF_RULES = rules(
    ("token_embd.weight", "embed"),
    ("output_norm.weight", "final_norm/scale", "minus_one"),
    ("blk.{layer}.attn_norm.weight", "blocks/attn_norm/scale", "minus_one"),
    ("blk.{layer}.attn_q.weight", "blocks/attn/q", "heads_in"),
    ("blk.{layer}.attn_k.weight", "blocks/attn/k", "heads_in"),
    ("blk.{layer}.attn_v.weight", "blocks/attn/v", "heads_in"),
    ("blk.{layer}.attn_output.weight", "blocks/attn/o", "heads_out"),
    ("blk.{layer}.attn_q_norm.weight", "blocks/attn/q_norm/scale", "minus_one"),
    ("blk.{layer}.attn_k_norm.weight", "blocks/attn/k_norm/scale", "minus_one"),
    ("blk.{layer}.post_attention_norm.weight", "blocks/post_attn_norm/scale", "minus_one"),
    ("blk.{layer}.ffn_norm.weight", "blocks/ffn_norm/scale", "minus_one"),
    ("blk.{layer}.ffn_gate.weight", "blocks/mlp/gate", "transpose"),
    ("blk.{layer}.ffn_up.weight", "blocks/mlp/up", "transpose"),
    ("blk.{layer}.ffn_down.weight", "blocks/mlp/down", "transpose"),
    ("blk.{layer}.post_ffw_norm.weight", "blocks/post_ffn_norm/scale", "minus_one"),
)

# GGUF metadata keys (after the "gemma3." prefix) that this translation reads.
# Anything else under the prefix could change the numerics, so it is rejected.
_KNOWN_KEYS = {
    "context_length",
    "embedding_length",
    "block_count",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.layer_norm_rms_epsilon",
    "attention.key_length",
    "attention.value_length",
    "attention.sliding_window",
    "rope.freq_base",
    "rope.dimension_count",
    "rope.scaling.type",
    "rope.scaling.factor",
}


def layer_types(num_layers: int, pattern: int = SLIDING_WINDOW_PATTERN) -> tuple[str, ...]:
    return tuple("global" if (i + 1) % pattern == 0 else "local" for i in range(num_layers))


def config_from_gguf(
    meta: dict[str, Any], vocab_size: int, tensor_names: list[str] | None = None
) -> ModelConfig:
    """tensor_names: unused (Gemma 3 always ties its embeddings); the family protocol passes them."""
    arch = "gemma3"
    prefix = arch + "."
    unknown = sorted(k for k in meta if k.startswith(prefix) and k[len(prefix) :] not in _KNOWN_KEYS)
    if unknown:
        raise UnsupportedError(f"GGUF metadata key {unknown[0]!r} is not handled by the gemma3 port")

    def get(key: str, default: Any = None) -> Any:
        value = meta.get(prefix + key, default)
        if value is None:
            raise UnsupportedError(f"GGUF metadata lacks {prefix + key!r}")
        return value

    scaling = get("rope.scaling.type", "none")
    if scaling not in ("none", "linear"):
        raise UnsupportedError(f"gemma3 RoPE scaling {scaling!r} is not supported (only linear)")
    factor = float(get("rope.scaling.factor", 1.0)) if scaling == "linear" else 1.0

    d_model, num_heads = int(get("embedding_length")), int(get("attention.head_count"))
    head_dim = int(get("attention.key_length"))
    if int(get("attention.value_length", head_dim)) != head_dim:
        raise UnsupportedError("gemma3 with key_length != value_length is not supported")
    num_layers = int(get("block_count"))
    # The 27B model scales queries by d_model / num_heads (llama.cpp and HF agree).
    pre_attn_scalar = d_model // num_heads if num_layers == 62 else head_dim
    return ModelConfig(
        family=arch,
        vocab_size=vocab_size,
        d_model=d_model,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=int(get("attention.head_count_kv")),
        head_dim=head_dim,
        mlp_dim=int(get("feed_forward_length")),
        activation="gelu_tanh",
        norm_eps=float(get("attention.layer_norm_rms_epsilon")),
        norm_offset=1.0,
        qk_norm="head",
        post_attn_norm=True,
        post_ffn_norm=True,
        embed_scale=math.sqrt(d_model),
        tie_embeddings=True,
        rope_theta=float(get("rope.freq_base")),
        rope_scaling=RopeScaling("linear", factor) if factor != 1.0 else None,
        local_rope_theta=LOCAL_ROPE_THETA,
        sliding_window=int(get("attention.sliding_window")),
        layer_types=layer_types(num_layers),
        query_pre_attn_scalar=pre_attn_scalar,
        max_seq_len=int(get("context_length")),
    )


def gguf_keymap(cfg: ModelConfig):
    return _GGUF_RULES

"""Llama 2/3, Mistral, Qwen 2/2.5 and Qwen 3: the plain llama-like decoder and its variants.

Differences handled here: Qwen 2 biases on q/k/v, Qwen 3 per-head q/k RMSNorm,
Mistral's sliding window on every layer, Llama 3 RoPE scaling, explicit head_dim.

GGUF (architectures `llama` and `qwen2`): llama.cpp's converter permutes the
rows of a llama model's attn_q/attn_k into its interleaved RoPE layout
(`LlamaModel.permute`), so they are un-permuted on load; qwen2 files keep HF's
layout and add q/k/v biases. A file without `output.weight` ties the output to
`token_embd` (llama.cpp falls back to it the same way).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from xling.errors import UnsupportedError
from xling.models.config import ModelConfig, RopeScaling
from xling.models.hf_config import ConfigReader, read_rope
from xling.models.keymap import KeyMap, rules

MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
IGNORE = (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",)
GGUF_ARCHITECTURES = ("llama", "qwen2")

# GGUF metadata keys (after the "<arch>." prefix) that the translation reads. Anything
# else under the prefix could change the numerics, so it is rejected.
_GGUF_KNOWN_KEYS = {
    "context_length",
    "embedding_length",
    "block_count",
    "feed_forward_length",
    "vocab_size",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.layer_norm_rms_epsilon",
    "attention.key_length",
    "attention.value_length",
    "rope.freq_base",
    "rope.dimension_count",
    "rope.scaling.type",
    "rope.scaling.factor",
    # Only YaRN reads it (rejected below); with linear scaling it is a record of the
    # pre-training context.
    "rope.scaling.original_context_length",
}
# llama.cpp's default when a file has no rope.freq_base (llama_model_loader).
_GGUF_DEFAULT_ROPE_BASE = 10_000.0


def config_from_hf(r: ConfigReader) -> ModelConfig:
    kind = r.get("model_type")
    d, heads = int(r.get("hidden_size")), int(r.get("num_attention_heads"))
    layers = int(r.get("num_hidden_layers"))
    theta, scaling = read_rope(r)
    r.require("hidden_act", "silu")
    r.require("mlp_bias", False)
    attention_bias = bool(r.get("attention_bias", False))  # Llama, Qwen 3: on q, k, v and o
    qkv_bias = kind == "qwen2" or attention_bias  # Qwen 2: always on q, k, v; never on o
    window = None
    if kind == "mistral":
        window = r.get("sliding_window", None)
    elif kind in ("qwen2", "qwen3"):
        r.require("use_sliding_window", False)
        r.get("sliding_window", None)  # read but inert while use_sliding_window is false
        r.require("layer_types", ["full_attention"] * layers, None)
    return ModelConfig(
        family=kind,
        vocab_size=int(r.get("vocab_size")),
        d_model=d,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=int(r.get("num_key_value_heads", heads)),
        head_dim=int(r.get("head_dim", d // heads)),
        mlp_dim=int(r.get("intermediate_size")),
        activation="silu",
        norm_eps=float(r.get("rms_norm_eps")),
        qk_norm="head" if kind == "qwen3" else None,
        qkv_bias=qkv_bias,
        out_bias=attention_bias,
        tie_embeddings=bool(r.get("tie_word_embeddings", False)),
        rope_theta=theta,
        rope_scaling=scaling,
        sliding_window=window,
        layer_types=("local",) * layers if window else (),
        max_seq_len=int(r.raw.get("max_position_embeddings", 8192)),
    )


def llama_like_rules(cfg: ModelConfig, layer: str = "model.layers.{layer}.") -> tuple:
    """Rules every llama-like family shares: embeddings, final norm, head, the attention
    projections (+ optional q/k norms), the input norm and the gated MLP. Families add their
    biases and their names for the other norms."""
    return (
        ("model.embed_tokens.weight", "embed"),
        ("model.norm.weight", "final_norm/scale"),
        () if cfg.tie_embeddings else ("lm_head.weight", "lm_head", "transpose"),
        (f"{layer}input_layernorm.weight", "blocks/attn_norm/scale"),
        (f"{layer}self_attn.q_proj.weight", "blocks/attn/q", "heads_in"),
        (f"{layer}self_attn.k_proj.weight", "blocks/attn/k", "heads_in"),
        (f"{layer}self_attn.v_proj.weight", "blocks/attn/v", "heads_in"),
        (f"{layer}self_attn.o_proj.weight", "blocks/attn/o", "heads_out"),
        (f"{layer}self_attn.q_norm.weight", "blocks/attn/q_norm/scale") if cfg.qk_norm else (),
        (f"{layer}self_attn.k_norm.weight", "blocks/attn/k_norm/scale") if cfg.qk_norm else (),
        (f"{layer}mlp.gate_proj.weight", "blocks/mlp/gate", "transpose"),
        (f"{layer}mlp.up_proj.weight", "blocks/mlp/up", "transpose"),
        (f"{layer}mlp.down_proj.weight", "blocks/mlp/down", "transpose"),
    )


def hf_keymap(cfg: ModelConfig) -> KeyMap:
    layer = "model.layers.{layer}."
    bias = [
        (f"{layer}self_attn.{p}_proj.bias", f"blocks/attn/{p}_bias", "split_heads") for p in "qkv"
    ] if cfg.qkv_bias else []  # fmt: skip
    return rules(
        *llama_like_rules(cfg, layer),
        *bias,
        (f"{layer}self_attn.o_proj.bias", "blocks/attn/o_bias") if cfg.out_bias else (),
        (
            f"{layer}post_attention_layernorm.weight",
            "blocks/ffn_norm/scale",
        ),  # HF's name for the pre-MLP norm
    )


def config_from_gguf(
    meta: dict[str, Any], vocab_size: int, tensor_names: Collection[str] | None = None
) -> ModelConfig:
    """ModelConfig of a llama or qwen2 GGUF file. `tensor_names` (the file's tensors)
    decide tied embeddings: without `output.weight`, or without the list, the output
    reuses `token_embd` as in llama.cpp."""
    arch = meta.get("general.architecture")
    if arch not in GGUF_ARCHITECTURES:
        raise UnsupportedError(f"GGUF architecture {arch!r} is not handled by the llama port")
    prefix = arch + "."
    unknown = sorted(k for k in meta if k.startswith(prefix) and k[len(prefix) :] not in _GGUF_KNOWN_KEYS)
    if unknown:
        raise UnsupportedError(f"GGUF metadata key {unknown[0]!r} is not handled by the {arch} port")
    names = set(tensor_names or ())
    if "rope_freqs.weight" in names:
        # llama.cpp writes Llama 3.1-style RoPE scaling not as metadata but as this tensor
        # of per-frequency divisors; reading it is not implemented.
        raise UnsupportedError(
            f"{arch} GGUF with a 'rope_freqs.weight' tensor (Llama 3 RoPE scaling) is not supported"
        )

    def get(key: str, default: Any = None) -> Any:
        value = meta.get(prefix + key, default)
        if value is None:
            raise UnsupportedError(f"GGUF metadata lacks {prefix + key!r}")
        return value

    scaling_kind = str(get("rope.scaling.type", "none"))
    factor = float(get("rope.scaling.factor", 1.0))
    if scaling_kind == "none" or (scaling_kind == "linear" and factor == 1.0):
        scaling = None
    elif scaling_kind == "linear":
        scaling = RopeScaling("linear", factor)
    else:
        raise UnsupportedError(f"{arch} RoPE scaling {scaling_kind!r} is not supported (none, linear)")

    d_model, num_heads = int(get("embedding_length")), int(get("attention.head_count"))
    head_dim = int(get("attention.key_length", get("rope.dimension_count", d_model // num_heads)))
    if int(get("attention.value_length", head_dim)) != head_dim:
        raise UnsupportedError(f"{arch} with key_length != value_length is not supported")
    rope_dim = int(get("rope.dimension_count", head_dim))
    if rope_dim != head_dim:
        raise UnsupportedError(
            f"{arch}: RoPE on {rope_dim} of {head_dim} head dimensions (partial rotary) is not supported"
        )
    if int(get("vocab_size", vocab_size)) != vocab_size:
        raise UnsupportedError(
            f"{prefix}vocab_size = {get('vocab_size')} but token_embd has {vocab_size} rows"
        )
    return ModelConfig(
        family=arch,
        vocab_size=vocab_size,
        d_model=d_model,
        num_layers=int(get("block_count")),
        num_heads=num_heads,
        num_kv_heads=int(get("attention.head_count_kv", num_heads)),
        head_dim=head_dim,
        mlp_dim=int(get("feed_forward_length")),
        activation="silu",
        norm_eps=float(get("attention.layer_norm_rms_epsilon")),
        qkv_bias=arch == "qwen2",
        tie_embeddings="output.weight" not in names,
        rope_theta=float(get("rope.freq_base", _GGUF_DEFAULT_ROPE_BASE)),
        rope_scaling=scaling,
        max_seq_len=int(get("context_length")),
    )


def gguf_keymap(cfg: ModelConfig) -> KeyMap:
    """llama.cpp's tensor names. q/k of the `llama` architecture are stored permuted."""
    layer = "blk.{layer}."
    qk = "heads_in" if cfg.family == "qwen2" else "heads_in_llama_cpp"
    bias = [
        (f"{layer}attn_{p}.bias", f"blocks/attn/{p}_bias", "split_heads") for p in "qkv"
    ] if cfg.qkv_bias else []  # fmt: skip
    return rules(
        ("token_embd.weight", "embed"),
        ("output_norm.weight", "final_norm/scale"),
        () if cfg.tie_embeddings else ("output.weight", "lm_head", "transpose"),
        (f"{layer}attn_norm.weight", "blocks/attn_norm/scale"),
        (f"{layer}attn_q.weight", "blocks/attn/q", qk),
        (f"{layer}attn_k.weight", "blocks/attn/k", qk),
        (f"{layer}attn_v.weight", "blocks/attn/v", "heads_in"),
        (f"{layer}attn_output.weight", "blocks/attn/o", "heads_out"),
        *bias,
        (f"{layer}ffn_norm.weight", "blocks/ffn_norm/scale"),
        (f"{layer}ffn_gate.weight", "blocks/mlp/gate", "transpose"),
        (f"{layer}ffn_up.weight", "blocks/mlp/up", "transpose"),
        (f"{layer}ffn_down.weight", "blocks/mlp/down", "transpose"),
    )

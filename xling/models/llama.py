"""Llama 2/3, Mistral, Qwen 2/2.5 and Qwen 3: the plain llama-like decoder and its variants.

Differences handled here: Qwen 2 biases on q/k/v, Qwen 3 per-head q/k RMSNorm,
Mistral's sliding window on every layer, Llama 3 RoPE scaling, explicit head_dim.
"""

from __future__ import annotations

from xling.models.config import ModelConfig
from xling.models.hf_config import ConfigReader, read_rope
from xling.models.keymap import KeyMap, rules

MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
IGNORE = (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",)


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

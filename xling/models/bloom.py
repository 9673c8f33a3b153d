"""BLOOM: ALiBi instead of positions, LayerNorm (with bias) everywhere including right
after the embedding, biases on every linear map, q/k/v fused per head."""

from __future__ import annotations

from xling.models.config import ModelConfig
from xling.models.hf_config import ConfigReader
from xling.models.keymap import KeyMap, layer_norm, rules

MODEL_TYPES = ("bloom",)
IGNORE = ()


def config_from_hf(r: ConfigReader) -> ModelConfig:
    d, heads = int(r.first("hidden_size", "n_embed")), int(r.first("n_head", "num_attention_heads"))
    r.require("apply_residual_connection_post_layernorm", False)
    return ModelConfig(
        family="bloom",
        vocab_size=int(r.get("vocab_size")),
        d_model=d,
        num_layers=int(r.first("n_layer", "num_hidden_layers")),
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=d // heads,
        mlp_dim=4 * d,
        activation="gelu_tanh",  # bloom_gelu_forward is the tanh approximation
        mlp_type="dense",
        mlp_bias=True,
        norm_type="layer",
        norm_eps=float(r.get("layer_norm_epsilon")),
        qkv_bias=True,
        out_bias=True,
        embed_norm=True,
        tie_embeddings=bool(r.get("tie_word_embeddings", True)),
        position_type="alibi",
        max_seq_len=int(r.raw.get("seq_length", 2048) or 2048),
    )


def hf_keymap(cfg: ModelConfig) -> KeyMap:
    layer, qkv = "transformer.h.{layer}.", ("blocks/attn/q", "blocks/attn/k", "blocks/attn/v")
    qkv_bias = ("blocks/attn/q_bias", "blocks/attn/k_bias", "blocks/attn/v_bias")
    return rules(
        ("transformer.word_embeddings.weight", "embed"),
        *layer_norm("transformer.word_embeddings_layernorm", "embed_norm"),
        *layer_norm("transformer.ln_f", "final_norm"),
        () if cfg.tie_embeddings else ("lm_head.weight", "lm_head", "transpose"),
        *layer_norm(f"{layer}input_layernorm", "blocks/attn_norm"),
        (f"{layer}self_attention.query_key_value.weight", qkv, "bloom_qkv"),
        (f"{layer}self_attention.query_key_value.bias", qkv_bias, "bloom_qkv_bias"),
        (f"{layer}self_attention.dense.weight", "blocks/attn/o", "heads_out"),
        (f"{layer}self_attention.dense.bias", "blocks/attn/o_bias"),
        *layer_norm(f"{layer}post_attention_layernorm", "blocks/ffn_norm"),
        (f"{layer}mlp.dense_h_to_4h.weight", "blocks/mlp/up", "transpose"),
        (f"{layer}mlp.dense_h_to_4h.bias", "blocks/mlp/up_bias"),
        (f"{layer}mlp.dense_4h_to_h.weight", "blocks/mlp/down", "transpose"),
        (f"{layer}mlp.dense_4h_to_h.bias", "blocks/mlp/down_bias"),
    )

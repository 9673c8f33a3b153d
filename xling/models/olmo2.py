"""OLMo 2: norms on the attention/MLP outputs only (no pre-norm) and q/k RMSNorm
over the whole projection rather than per head."""

from __future__ import annotations

from xling.models.config import ModelConfig
from xling.models.hf_config import ConfigReader, read_rope
from xling.models.keymap import KeyMap, rules

MODEL_TYPES = ("olmo2",)
IGNORE = ()


def config_from_hf(r: ConfigReader) -> ModelConfig:
    d, heads = int(r.get("hidden_size")), int(r.get("num_attention_heads"))
    theta, scaling = read_rope(r)
    r.require("hidden_act", "silu")
    r.require("attention_bias", False)
    r.require("clip_qkv", None)
    return ModelConfig(
        family="olmo2",
        vocab_size=int(r.get("vocab_size")),
        d_model=d,
        num_layers=int(r.get("num_hidden_layers")),
        num_heads=heads,
        num_kv_heads=int(r.get("num_key_value_heads", heads)),
        head_dim=d // heads,
        mlp_dim=int(r.get("intermediate_size")),
        activation="silu",
        norm_eps=float(r.get("rms_norm_eps")),
        pre_norm=False,
        qk_norm="proj",
        post_attn_norm=True,
        post_ffn_norm=True,
        tie_embeddings=bool(r.get("tie_word_embeddings", False)),
        rope_theta=theta,
        rope_scaling=scaling,
        max_seq_len=int(r.raw.get("max_position_embeddings", 4096)),
    )


def hf_keymap(cfg: ModelConfig) -> KeyMap:
    layer = "model.layers.{layer}."
    return rules(
        ("model.embed_tokens.weight", "embed"),
        ("model.norm.weight", "final_norm/scale"),
        () if cfg.tie_embeddings else ("lm_head.weight", "lm_head", "transpose"),
        (f"{layer}self_attn.q_proj.weight", "blocks/attn/q", "heads_in"),
        (f"{layer}self_attn.k_proj.weight", "blocks/attn/k", "heads_in"),
        (f"{layer}self_attn.v_proj.weight", "blocks/attn/v", "heads_in"),
        (f"{layer}self_attn.o_proj.weight", "blocks/attn/o", "heads_out"),
        (f"{layer}self_attn.q_norm.weight", "blocks/attn/q_norm/scale", "split_heads"),
        (f"{layer}self_attn.k_norm.weight", "blocks/attn/k_norm/scale", "split_heads"),
        (f"{layer}post_attention_layernorm.weight", "blocks/post_attn_norm/scale"),
        (f"{layer}post_feedforward_layernorm.weight", "blocks/post_ffn_norm/scale"),
        (f"{layer}mlp.gate_proj.weight", "blocks/mlp/gate", "transpose"),
        (f"{layer}mlp.up_proj.weight", "blocks/mlp/up", "transpose"),
        (f"{layer}mlp.down_proj.weight", "blocks/mlp/down", "transpose"),
    )

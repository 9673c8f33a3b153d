"""GPT-2: learned absolute positions, LayerNorm with bias, Conv1D ([in, out]) weights
with q/k/v concatenated, biases everywhere, tied unembedding."""

from __future__ import annotations

from xling.errors import UnsupportedError
from xling.models.config import ModelConfig
from xling.models.hf_config import ConfigReader
from xling.models.keymap import KeyMap, layer_norm, rules

MODEL_TYPES = ("gpt2",)
# Causal-mask buffers that older checkpoints saved alongside the weights.
IGNORE = (r"(transformer\.)?h\.\d+\.attn\.(masked_)?bias",)


def config_from_hf(r: ConfigReader) -> ModelConfig:
    d, heads = int(r.first("n_embd", "hidden_size")), int(r.first("n_head", "num_attention_heads"))
    act = r.get("activation_function", "gelu_new")
    activation = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}.get(act)
    if activation is None:
        raise UnsupportedError(f"gpt2: activation_function {act!r} is not supported")
    r.require("scale_attn_weights", True)
    r.require("scale_attn_by_inverse_layer_idx", False)
    r.require("reorder_and_upcast_attn", False)
    r.require("add_cross_attention", False)
    return ModelConfig(
        family="gpt2",
        vocab_size=int(r.get("vocab_size")),
        d_model=d,
        num_layers=int(r.first("n_layer", "num_hidden_layers")),
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=d // heads,
        mlp_dim=int(r.get("n_inner", 4 * d)),
        activation=activation,
        mlp_type="dense",
        mlp_bias=True,
        norm_type="layer",
        norm_eps=float(r.get("layer_norm_epsilon")),
        qkv_bias=True,
        out_bias=True,
        tie_embeddings=bool(r.get("tie_word_embeddings", True)),
        position_type="learned",
        max_seq_len=int(r.first("n_positions", "max_position_embeddings")),
    )


def hf_keymap(cfg: ModelConfig) -> KeyMap:
    layer, qkv = "transformer.h.{layer}.", ("blocks/attn/q", "blocks/attn/k", "blocks/attn/v")
    qkv_bias = ("blocks/attn/q_bias", "blocks/attn/k_bias", "blocks/attn/v_bias")
    return rules(
        ("transformer.wte.weight", "embed"),
        ("transformer.wpe.weight", "pos_embed"),
        *layer_norm("transformer.ln_f", "final_norm"),
        () if cfg.tie_embeddings else ("lm_head.weight", "lm_head", "transpose"),
        *layer_norm(f"{layer}ln_1", "blocks/attn_norm"),
        (f"{layer}attn.c_attn.weight", qkv, "gpt2_qkv"),
        (f"{layer}attn.c_attn.bias", qkv_bias, "gpt2_qkv"),
        (f"{layer}attn.c_proj.weight", "blocks/attn/o", "merge_heads_rows"),
        (f"{layer}attn.c_proj.bias", "blocks/attn/o_bias"),
        *layer_norm(f"{layer}ln_2", "blocks/ffn_norm"),
        (f"{layer}mlp.c_fc.weight", "blocks/mlp/up"),
        (f"{layer}mlp.c_fc.bias", "blocks/mlp/up_bias"),
        (f"{layer}mlp.c_proj.weight", "blocks/mlp/down"),
        (f"{layer}mlp.c_proj.bias", "blocks/mlp/down_bias"),
    )

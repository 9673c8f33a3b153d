"""Gemma 1, 2 and 3 (text) from Hugging Face checkpoints.

All use (1 + w) RMSNorm, GeGLU with tanh GELU and sqrt(d_model)-scaled tied
embeddings. Gemma 2 adds sandwich norms, attention and final-logit softcaps
and alternating sliding-window layers; Gemma 3 swaps the softcaps for q/k norms
and gives local layers their own RoPE base.
"""

from __future__ import annotations

import math

from xling.errors import UnsupportedError
from xling.models.config import ModelConfig
from xling.models.hf_config import ConfigReader, read_rope
from xling.models.keymap import KeyMap, rules
from xling.models.llama import llama_like_rules

MODEL_TYPES = ("gemma", "gemma2", "gemma3_text")
IGNORE = ()
_LAYER_TYPES = {"sliding_attention": "local", "full_attention": "global"}


def _layer_types(r: ConfigReader, layers: int, kind: str) -> tuple[str, ...]:
    raw = r.get("layer_types", None)
    if raw is None:
        if kind == "gemma2":  # older configs: even layers slide
            return tuple("local" if i % 2 == 0 else "global" for i in range(layers))
        pattern = int(r.first("sliding_window_pattern", "_sliding_window_pattern", default=6))
        return tuple("global" if (i + 1) % pattern == 0 else "local" for i in range(layers))
    r.used.update({"sliding_window_pattern", "_sliding_window_pattern"})
    try:
        return tuple(_LAYER_TYPES[t] for t in raw)
    except KeyError as e:
        raise UnsupportedError(f"{kind}: layer type {e.args[0]!r} is not supported") from None


def config_from_hf(r: ConfigReader) -> ModelConfig:
    kind = r.get("model_type")
    d, heads, layers = (
        int(r.get("hidden_size")),
        int(r.get("num_attention_heads")),
        int(r.get("num_hidden_layers")),
    )
    head_dim = int(r.get("head_dim", d // heads))
    act = r.first("hidden_activation", "hidden_act", default="gelu_pytorch_tanh")
    if act not in ("gelu_pytorch_tanh", "gelu"):
        raise UnsupportedError(f"{kind}: activation {act!r} is not supported")
    r.require("attention_bias", False)
    r.require("use_bidirectional_attention", None, False)
    local_theta, scaling, types, window = None, None, (), None
    if kind == "gemma3_text":
        rope = r.get("rope_parameters", None)
        if rope and "full_attention" in rope:
            theta, scaling = read_rope(r, rope["full_attention"])
            local_theta, local_scaling = read_rope(r, rope["sliding_attention"])
            if local_scaling is not None:
                raise UnsupportedError("gemma3: RoPE scaling on sliding layers is not supported")
        else:
            theta, scaling = read_rope(r)
            local_theta = float(r.get("rope_local_base_freq", 10_000.0))
    else:
        theta, scaling = read_rope(r)
    if kind != "gemma":
        types, window = _layer_types(r, layers, kind), int(r.get("sliding_window"))
    return ModelConfig(
        family=kind,
        vocab_size=int(r.get("vocab_size")),
        d_model=d,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=int(r.get("num_key_value_heads", heads)),
        head_dim=head_dim,
        mlp_dim=int(r.get("intermediate_size")),
        # Gemma 1 configs say "gelu" but the reference runs the tanh approximation.
        activation="gelu_tanh",
        norm_eps=float(r.get("rms_norm_eps")),
        norm_offset=1.0,
        qk_norm="head" if kind == "gemma3_text" else None,
        post_attn_norm=kind != "gemma",
        post_ffn_norm=kind != "gemma",
        embed_scale=math.sqrt(d),
        tie_embeddings=bool(r.get("tie_word_embeddings", True)),
        rope_theta=theta,
        rope_scaling=scaling,
        local_rope_theta=local_theta,
        sliding_window=window,
        layer_types=types,
        query_pre_attn_scalar=float(r.get("query_pre_attn_scalar", head_dim)),
        attn_logit_softcap=r.get("attn_logit_softcapping", None),
        final_logit_softcap=r.get("final_logit_softcapping", None),
        max_seq_len=int(r.raw.get("max_position_embeddings", 8192)),
    )


def hf_keymap(cfg: ModelConfig) -> KeyMap:
    layer = "model.layers.{layer}."
    sandwich = cfg.post_attn_norm
    return rules(
        *llama_like_rules(cfg, layer),
        # Gemma 1 names its pre-MLP norm post_attention_layernorm; Gemma 2/3 use that name
        # for the norm on the attention output and have a separate pre_feedforward_layernorm.
        (f"{layer}post_attention_layernorm.weight", "blocks/post_attn_norm/scale" if sandwich else "blocks/ffn_norm/scale"),
        (f"{layer}pre_feedforward_layernorm.weight", "blocks/ffn_norm/scale") if sandwich else (),
        (f"{layer}post_feedforward_layernorm.weight", "blocks/post_ffn_norm/scale") if sandwich else (),
    )  # fmt: skip

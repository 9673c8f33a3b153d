"""Full-size configs, written here as their config.json fields: `jax.eval_shape`
builds each model without allocating, and the parameter count must equal both
the published figure and transformers' own count (model built on the meta device)."""

from __future__ import annotations

import jax
import pytest
import torch
import transformers as tf
from flax import nnx

from xling.models.decoder import Decoder
from xling.models.families import hf_family
from xling.models.hf_config import ConfigReader

LLAMA3_8B = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=8, vocab_size=128256, rms_norm_eps=1e-5,
                 rope_theta=500000.0, tie_word_embeddings=False)  # fmt: skip
FULL_SIZE = {
    "Llama-3-8B": (LLAMA3_8B, 8_030_261_248),
    "Mistral-7B-v0.1": (dict(LLAMA3_8B, model_type="mistral", vocab_size=32000, rope_theta=10000.0,
                             sliding_window=4096), 7_241_732_096),
    "Qwen2.5-7B": (dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                        num_attention_heads=28, num_key_value_heads=4, vocab_size=152064, rms_norm_eps=1e-6,
                        rope_theta=1000000.0, tie_word_embeddings=False), 7_615_616_512),
    "Qwen3-8B": (dict(model_type="qwen3", hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                      num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936,
                      rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=False), 8_190_735_360),
    "Gemma-2-9B": (dict(model_type="gemma2", hidden_size=3584, intermediate_size=14336, num_hidden_layers=42,
                        num_attention_heads=16, num_key_value_heads=8, head_dim=256, vocab_size=256000,
                        rms_norm_eps=1e-6, query_pre_attn_scalar=256, sliding_window=4096,
                        attn_logit_softcapping=50.0, final_logit_softcapping=30.0), 9_241_705_984),
    "OLMo-2-7B": (dict(model_type="olmo2", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, vocab_size=100352, rms_norm_eps=1e-6,
                       rope_theta=500000.0, tie_word_embeddings=False), 7_298_617_344),
    "BLOOM-7b1": (dict(model_type="bloom", hidden_size=4096, n_layer=30, n_head=32, vocab_size=250880,
                       layer_norm_epsilon=1e-5), 7_069_016_064),
    "GPT-2-XL": (dict(model_type="gpt2", n_embd=1600, n_layer=48, n_head=25, vocab_size=50257, n_positions=1024,
                      layer_norm_epsilon=1e-5), 1_557_611_200),
}  # fmt: skip


@pytest.mark.parametrize("name", list(FULL_SIZE))
def test_parameter_count_without_memory(name):
    fields, published = FULL_SIZE[name]
    reader = ConfigReader(fields, fields["model_type"])
    cfg = hf_family(fields["model_type"]).config_from_hf(reader)
    reader.finish()
    abstract = nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0)))
    leaves = jax.tree.leaves(nnx.state(abstract, nnx.Param))
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
    ours = sum(x.size for x in leaves)

    hf_cfg = tf.AutoConfig.for_model(**fields)
    with torch.device("meta"):
        ref = sum(p.numel() for p in tf.AutoModelForCausalLM.from_config(hf_cfg).parameters())
    assert ours == ref == published

"""Every supported Hugging Face family: a tiny random model built with transformers
(torch, CPU), saved with save_pretrained, loaded by xling from the directory, and
compared layer by layer. fp32 both sides; tolerance below (relative to the largest
magnitude of each compared tensor)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as tf

from xling.checkpoints.hf_dir import load_hf_dir
from xling.inference.generation import greedy_generate
from xling.verify import compare, rel_err

RTOL = 1e-5

TINY = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4)
CASES = {
    "llama-gqa-bias-llama3rope": tf.LlamaConfig(
        **TINY, num_key_value_heads=2, attention_bias=True, tie_word_embeddings=False,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
    ),
    "llama-mqa-tied": tf.LlamaConfig(**TINY, num_key_value_heads=1, tie_word_embeddings=True),
    "mistral-window": tf.MistralConfig(**TINY, num_key_value_heads=2, sliding_window=4),
    "qwen2-mha-tied": tf.Qwen2Config(**TINY, num_key_value_heads=4, tie_word_embeddings=True),
    "qwen3-headdim": tf.Qwen3Config(**TINY, num_key_value_heads=2, head_dim=16),
    "gemma-mqa": tf.GemmaConfig(**TINY, num_key_value_heads=1, head_dim=8),
    "gemma2-softcap": tf.Gemma2Config(
        **TINY, num_key_value_heads=2, head_dim=8, sliding_window=4, query_pre_attn_scalar=12,
        attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
    ),
    "gemma3-text": tf.Gemma3TextConfig(
        **TINY, num_key_value_heads=1, head_dim=8, sliding_window=4, query_pre_attn_scalar=8,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
    ),
    "olmo2-gqa": tf.Olmo2Config(**TINY, num_key_value_heads=2),
    "bloom-6heads": tf.BloomConfig(vocab_size=97, hidden_size=48, n_layer=3, n_head=6),
    "gpt2": tf.GPT2Config(vocab_size=97, n_embd=32, n_layer=3, n_head=4, n_positions=64),
}  # fmt: skip


@pytest.fixture(scope="module", params=list(CASES))
def saved(request, tmp_path_factory):
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(CASES[request.param]).eval()
    with torch.no_grad():  # random init leaves norms at 1/0 and biases at 0: perturb everything
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(path, max_shard_size="20KB")  # several shards: exercises the index
    return request.param, model, path


def test_every_layer_matches(saved):
    name, hf, path = saved
    assert (path / "model.safetensors.index.json").is_file()
    ours = load_hf_dir(path)
    rng = np.random.default_rng(1)
    ids = rng.integers(3, 97, (3, 10))
    mask = np.ones((3, 10), bool)
    mask[1, :4] = mask[2, :7] = False  # left padding
    report = compare(ours, hf, ids, mask, k=5)
    assert len(report.layer_errors) == hf.config.num_hidden_layers + 1
    assert max(report.layer_errors) <= RTOL, (name, [f"{e:.1e}" for e in report.layer_errors])
    assert report.logits_error <= RTOL
    assert report.topk_overlap == 1.0 and report.max_kl < 1e-9


def test_padded_rows_equal_unpadded(saved):
    _, _, path = saved
    ours = load_hf_dir(path)
    ids = np.random.default_rng(2).integers(3, 97, (1, 6))
    padded = np.concatenate([np.zeros((1, 3), int), ids], axis=1)
    mask = np.asarray([[False] * 3 + [True] * 6])
    a = ours(padded, mask, return_hidden=True)
    b = ours(ids, return_hidden=True)
    assert rel_err(a.hidden_states[:, 0, 3:], np.asarray(b.hidden_states[:, 0])) <= RTOL
    assert rel_err(a.logits[0, 3:], np.asarray(b.logits[0])) <= RTOL


def test_greedy_generation_matches_transformers(saved):
    """Batched, left-padded greedy generation equals `generate` on each prompt alone."""
    name, hf, path = saved
    ours = load_hf_dir(path)
    rng = np.random.default_rng(3)
    prompts = [rng.integers(3, 97, n).tolist() for n in (7, 3, 5)]
    width = max(map(len, prompts))
    ids = np.zeros((3, width), np.int32)
    mask = np.zeros((3, width), bool)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :], mask[i, width - len(p) :] = p, True
    got = greedy_generate(ours, ids, mask, max_new_tokens=8, eos_ids=())
    for row, p in enumerate(prompts):
        with torch.no_grad():
            ref = hf.generate(
                torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                max_new_tokens=8, min_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0,
            )[0, len(p):].tolist()  # fmt: skip
        assert got[row].tolist() == ref, (name, row)


def test_shared_prefix_generation_matches_transformers(saved):
    """Rows sharing a prefix (prefilled once, `groups=`) still equal `generate` on each prompt
    alone: two groups of unequal size, prefixes longer than the sliding windows."""
    from xling.inference.generation import generate_ids

    name, hf, path = saved
    ours = load_hf_dir(path)
    rng = np.random.default_rng(4)
    heads = [rng.integers(3, 97, 9).tolist(), rng.integers(3, 97, 6).tolist()]
    prompts = [heads[0] + [5, 6], heads[0] + [7], heads[0] + [8, 9, 10], heads[1] + [11, 12]]
    got = generate_ids(ours, _NoText(), prompts, max_new_tokens=6, eos_ids=(), groups=[0, 0, 0, 1])
    for row, p in enumerate(prompts):
        with torch.no_grad():
            ref = hf.generate(
                torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                max_new_tokens=6, min_new_tokens=6, do_sample=False, eos_token_id=None, pad_token_id=0,
            )[0, len(p):].tolist()  # fmt: skip
        assert got.tokens[row].tolist() == ref, (name, row)


class _NoText:
    """generate_ids decodes its output; ids are all these tests compare."""

    pad_id = 0

    def decode(self, ids):
        return ""

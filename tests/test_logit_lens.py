"""The lens engine against brute force (full softmax over the vocabulary) on small
models, and against a hooked transformers readout on the real Gemma 3 270M."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import tiny_model

from xling.lens import logit_lens

ATOL = 1e-5  # probabilities and nats, fp32
RTOL = 1e-5  # as in the model parity tests


def brute_force(model, ids, mask, pos):
    hidden = np.asarray(model(ids, mask, return_hidden=True).hidden_states)
    h = np.take_along_axis(hidden, pos[None, :, :, None], axis=2)
    logits = np.asarray(model.readout(h), np.float64)
    logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    return logp


@pytest.fixture(scope="module")
def setup():
    model = tiny_model(seed=7, final_logit_softcap=5.0)  # the readout's softcap must be honoured
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 97, (3, 9)).astype(np.int32)
    mask = np.ones_like(ids, bool)
    mask[2, :3] = False
    return model, ids, mask


@pytest.mark.parametrize("vocab_chunk,position_chunk,batch_chunk", [(97, 64, 16), (16, 4, 2), (10, 1, 1)])
def test_matches_brute_force_for_any_chunking(setup, vocab_chunk, position_chunk, batch_chunk):
    model, ids, mask = setup
    sets = {"a": [5, 6, 7], "b": [[1, 2], [3], [90, 91, 92, 93]]}
    trace = logit_lens(model, ids, mask, positions="all", k=4, token_sets=sets, token_ids=[5, 50],
                       vocab_chunk=vocab_chunk, position_chunk=position_chunk, batch_chunk=batch_chunk)  # fmt: skip
    pos = np.tile(np.arange(9), (3, 1))
    logp = brute_force(model, ids, mask, pos)
    p = np.exp(logp)
    top = np.argsort(-logp, axis=-1, kind="stable")[..., :4]
    np.testing.assert_array_equal(trace.topk_ids, top)
    np.testing.assert_allclose(trace.topk_probs, np.take_along_axis(p, top, -1), atol=ATOL)
    np.testing.assert_allclose(trace.entropy, -(p * logp).sum(-1), atol=ATOL)
    kl = (p[-1:] * (logp[-1:] - logp)).sum(-1)
    np.testing.assert_allclose(trace.kl, kl, atol=ATOL)
    assert (trace.kl[-1] == 0).all()
    np.testing.assert_allclose(trace.set_mass[..., 0], p[..., [5, 6, 7]].sum(-1), atol=ATOL)
    for row, ids_b in enumerate([[1, 2], [3], [90, 91, 92, 93]]):
        np.testing.assert_allclose(trace.set_mass[:, row, :, 1], p[:, row][..., ids_b].sum(-1), atol=ATOL)
    np.testing.assert_allclose(trace.token_probs, p[..., [5, 50]], atol=ATOL)
    ranks = (logp[..., None, :] > logp[..., [5, 50]][..., None]).sum(-1)
    np.testing.assert_array_equal(trace.token_ranks, ranks)


def test_last_and_arbitrary_positions(setup):
    model, ids, mask = setup
    last = logit_lens(model, ids, mask, k=3)
    chosen = logit_lens(model, ids, mask, positions=[8, 5], k=3)
    per_row = logit_lens(model, ids, mask, positions=[[8], [4], [-1]], k=3)
    np.testing.assert_array_equal(last.topk_ids[:, :, 0], chosen.topk_ids[:, :, 0])
    logp = brute_force(model, ids, mask, np.asarray([[8, 5]] * 3))
    np.testing.assert_array_equal(
        chosen.topk_ids[:, :, 1], np.argsort(-logp[:, :, 1], -1, kind="stable")[..., :3]
    )
    np.testing.assert_array_equal(per_row.positions[:, 0], [8, 4, 8])
    df = last.to_pandas()
    assert len(df) == (model.cfg.num_layers + 1) * 3 and {"layer", "top1_prob", "kl"} <= set(df.columns)


def test_duplicate_ids_in_a_set_count_once(setup):
    model, ids, mask = setup
    once = logit_lens(model, ids, mask, token_sets={"s": [4, 9]})
    twice = logit_lens(model, ids, mask, token_sets={"s": [4, 9, 9, 4]})
    np.testing.assert_allclose(once.set_mass, twice.set_mass)


def test_bad_input(setup):
    model, ids, mask = setup
    with pytest.raises(ValueError, match="position 9 is out of range for 9 tokens"):
        logit_lens(model, ids, mask, positions=[9])
    with pytest.raises(ValueError, match="token set 'pivot' is empty"):
        logit_lens(model, ids, mask, token_sets={"pivot": []})
    with pytest.raises(ValueError, match="token set 'x' has 2 entries for 3 examples"):
        logit_lens(model, ids, mask, token_sets={"x": [[1], [2]]})
    with pytest.raises(ValueError, match="positions must be 'last', 'all' or indices"):
        logit_lens(model, ids, mask, positions="first")


@pytest.mark.slow
def test_gemma3_lens_matches_hooked_transformers(gemma, hf_gemma):
    """Per-layer top-k of transformers' own norm + lm_head on its hooked block outputs."""
    import torch

    from xling.verify import reference_states

    hf = hf_gemma[0]
    texts = ['Français: "chien" - English: "', "Русский: собака бежит", "中文：狗跑得很快", "ภาษาไทย: สุนัขวิ่ง"]
    ids, mask = gemma.tokenizer.batch(texts)
    positions = np.asarray([[ids.shape[1] - 1, ids.shape[1] - 3]] * len(texts))
    trace = logit_lens(gemma.model, ids, mask, positions=positions, k=5)
    hidden, _ = reference_states(hf, ids, mask)
    h = torch.as_tensor(np.take_along_axis(hidden, positions[None, :, :, None], axis=2))
    with torch.no_grad():
        logits = hf.lm_head(hf.model.norm(h)).double().numpy()
    logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    top = np.argsort(-logp, axis=-1, kind="stable")[..., :5]
    np.testing.assert_array_equal(trace.topk_ids, top)
    # The same 1e-5 relative standard as the model parity tests, on the logit scale:
    # intermediate-layer logits reach |z| ~ 800, where fp32 dot products in another
    # order differ by ~1e-5 absolute, so log-probs are compared relative to max |z|
    # (log p = z - lse carries the error of both terms, hence the factor 2).
    ref_top = np.take_along_axis(logp, top, -1)
    representable = ref_top > -80  # below, fp32 probabilities underflow to 0
    with np.errstate(divide="ignore"):
        err = np.where(representable, np.abs(np.log(trace.topk_probs) - ref_top), 0).max(-1)
    assert (err / np.abs(logits).max(-1) <= 2 * RTOL).all(), (err / np.abs(logits).max(-1)).max()
    assert jax.numpy.isfinite(trace.kl).all() and (trace.kl[-1] == 0).all()


def test_positions_must_be_integers_on_real_tokens(setup):
    model, ids, mask = setup
    with pytest.raises(ValueError, match=r"positions must be integer token indices, got \[1.7\]"):
        logit_lens(model, ids, mask, positions=[1.7])
    with pytest.raises(ValueError, match="position 0 of example 2 is a padding token"):
        logit_lens(model, ids, mask, positions=[0])  # row 2 is left-padded by 3
    trace = logit_lens(model, ids, mask, positions="all")
    assert (trace.valid == mask).all()  # padding positions are flagged, not silently read
    assert trace.to_pandas()["padding"].sum() == (trace.entropy.shape[0]) * 3

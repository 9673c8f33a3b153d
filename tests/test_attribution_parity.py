"""AttnLRP relevance of xling against LXT 2.1 on transformers (the reference, see
`xling.attribution.lxt_reference`), per layer and token, on the two embedded models."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import hf_reference

from xling.attribution.relevance import relevance

pytest.importorskip("torch")
if importlib.util.find_spec("lxt") is None:  # not importorskip: LXT's __init__ needs torchvision
    pytest.skip("lxt is not installed (make setup installs lxt==2.1)", allow_module_level=True)
from xling.attribution import lxt_reference

PROMPTS = [
    "The capital of France is Paris, and the capital of Germany is",
    "Question: Which river flows through the old town of Varnholt? Answer: The",
]
# Max |xling - LXT| per layer, over the layer's max |R|. Measured on these prompts: Gemma 3
# 270M 1.8e-6, SmolLM2-135M-Instruct 1.2e-6 (fp32 rounding through 18 / 30 layers of backward).
TOLERANCE = 3e-5


def _batch(tokenizer):
    rows = [tokenizer.encode(p) for p in PROMPTS]
    n = min(len(r) for r in rows)  # LXT's reference takes unpadded rows of one length
    return np.array([r[:n] for r in rows], np.int32)


def _compare(model, hf_model, family, tokenizer):
    ids = _batch(tokenizer)
    b, t = ids.shape
    pos = np.array([t - 1, t - 3])
    targets = np.array([ids[1, 5], ids[0, 2]])
    ref, ref_logits = lxt_reference.relevance(hf_model, family, ids, pos, targets)
    ours = relevance(model, ids, None, pos, targets, rules="attnlrp")
    rel = np.asarray(ours.relevance)
    assert rel.shape == ref.shape == (model.cfg.num_layers + 1, b, t)
    np.testing.assert_allclose(ours.value, ref_logits, rtol=1e-4, atol=1e-4)
    err = np.abs(rel - ref).max(axis=(1, 2)) / np.abs(ref).max(axis=(1, 2))
    assert err.max() <= TOLERANCE, err
    return err, rel.sum(-1), np.asarray(ours.value)


@pytest.mark.slow
def test_gemma3_270m_matches_lxt(gemma, hf_gemma):
    _, totals, value = _compare(gemma.model, hf_gemma[0], "gemma3", gemma.tokenizer)
    # The last residual stream conserves the logit (the final norm is a constant).
    np.testing.assert_allclose(totals[-1], value, rtol=1e-5)


@pytest.mark.slow
def test_smollm2_matches_lxt():
    import xling

    smol = xling.load("smollm2-135m-instruct")
    hf, _ = hf_reference(smol.path)
    _, totals, value = _compare(smol.model, hf, "llama", smol.tokenizer)
    np.testing.assert_allclose(totals[-1], value, rtol=1e-5)

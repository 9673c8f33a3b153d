"""Relevance in the shared decoder: each gradient rule against a hand-written expectation,
conservation on bias-free tiny models of every family shape, gradient x input for the plain
rules, and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_on_8_devices, tiny_config, tiny_model
from flax import nnx

from xling.attribution.relevance import AttributionError, relevance, with_rules
from xling.models import rules as R
from xling.models.config import ModelConfig
from xling.models.decoder import Decoder
from xling.models.layers import MLP, Attention, Norm

RNG = np.random.default_rng(0)


def _x(*shape):
    return jnp.asarray(RNG.standard_normal(shape), jnp.float32)


# ----------------------------------------------------------------------- the rules by hand


def test_scale_gradient_and_identity_rule_and_tap():
    x, g = _x(5), _x(5)
    y, vjp = jax.vjp(lambda a: R.scale_gradient(a, 4), x)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_allclose(vjp(g)[0], g / 4, rtol=1e-7)

    fn = jax.nn.silu
    y, vjp = jax.vjp(lambda a: R.identity_rule(fn, a), x)
    np.testing.assert_allclose(y, fn(x), rtol=1e-7)
    np.testing.assert_allclose(vjp(g)[0], fn(x) / (x + 1e-10) * g, rtol=1e-6)
    np.testing.assert_allclose((x * vjp(g)[0]).sum(), (fn(x) * g).sum(), rtol=1e-5)  # passes through

    h = _x(2, 3, 4)
    y, vjp = jax.vjp(R.relevance_tap, h, jnp.zeros((2, 3)))
    gh, gp = vjp(_x(2, 3, 4) * 0 + 2.0)
    np.testing.assert_array_equal(y, h)
    np.testing.assert_allclose(gh, 2.0)
    np.testing.assert_allclose(gp, 2.0 * h.sum(-1), rtol=1e-6)


def _cfg(**kw) -> ModelConfig:
    return tiny_config(**kw)


@pytest.mark.parametrize("kind", ["rms", "layer"])
def test_norm_rule_holds_the_normaliser_constant(kind):
    cfg = _cfg(norm_type=kind, norm_offset=0.0 if kind == "layer" else 1.0, rules="attnlrp")
    norm = Norm((8,), ("embed",), cfg)
    norm.scale.value = _x(8)
    x, g = _x(3, 8), _x(3, 8)
    _, vjp = jax.vjp(norm, x)
    x32 = x - x.mean(-1, keepdims=True) if kind == "layer" else x
    inv = 1 / jnp.sqrt((x32 * x32).mean(-1, keepdims=True) + cfg.norm_eps)
    expected = (norm.offset + norm.scale[...]) * inv * g
    if kind == "layer":  # the mean subtraction keeps its gradient (LXT's layer_norm_forward)
        expected = expected - expected.mean(-1, keepdims=True)
    np.testing.assert_allclose(vjp(g)[0], expected, rtol=1e-5, atol=1e-6)


def test_gated_mlp_rules():
    """AttnLRP: identity rule on the activation, gradient halved after gate * up;
    CP-LRP: no gradient through the gate branch."""
    cfg = _cfg(activation="silu", rules="attnlrp")
    mlp = MLP(cfg, rngs=nnx.Rngs(1))
    x, g = _x(2, cfg.d_model), _x(2, cfg.d_model)
    gate, up, down = mlp.gate[...], mlp.up[...], mlp.down[...]
    a, u = x @ gate, x @ up
    gh = g @ down.T  # gradient at h = act(a) * u
    expected = ((gh / 2) * u * jax.nn.silu(a) / (a + 1e-10)) @ gate.T + ((gh / 2) * jax.nn.silu(a)) @ up.T
    np.testing.assert_allclose(jax.vjp(mlp, x)[1](g)[0], expected, rtol=1e-4, atol=1e-6)
    cp = MLP(_cfg(activation="silu", rules="cp_lrp"), rngs=nnx.Rngs(1))
    np.testing.assert_allclose(jax.vjp(cp, x)[1](g)[0], (gh * jax.nn.silu(a)) @ up.T, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("explicit", [False, True])
def test_attention_rule_divides_q_k_by_4_and_v_by_2(explicit):
    cfg = _cfg(attention_impl="explicit" if explicit else "auto", rules="attnlrp", qk_norm=None)
    plain = Attention(cfg.replace(rules="plain"), rngs=nnx.Rngs(2))
    lrp = Attention(cfg, rngs=nnx.Rngs(2))
    b, t, k, hd = 2, 5, cfg.num_kv_heads, cfg.head_dim
    x, g = _x(b, t, cfg.d_model), _x(b, t, cfg.d_model)
    keys, values = _x(b, t, k, hd), _x(b, t, k, hd)
    cos, sin = jnp.ones((b, t, hd)), jnp.zeros((b, t, hd))
    mask = jnp.tril(jnp.ones((t, t), bool))[None].repeat(b, 0)
    pos = jnp.arange(t)[None].repeat(b, 0)

    def grads(layer):
        _, vjp = jax.vjp(lambda xx, kk, vv: layer(xx, cos, sin, kk, vv, mask, pos), x, keys, values)
        return vjp(g)

    (px, pk, pv), (lx, lk, lv) = grads(plain), grads(lrp)
    np.testing.assert_allclose(lk, pk / 4, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(lv, pv / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(lx, px / 4, rtol=1e-5, atol=1e-7)  # x reaches the output only via q


# ------------------------------------------------------------------------------ whole models

FAMILIES = {
    "gemma3": {},  # the conftest tiny config: qk norm, sliding windows, post norms, GeGLU
    "llama": dict(activation="silu", qk_norm=None, post_attn_norm=False, post_ffn_norm=False,
                  norm_offset=0.0, embed_scale=1.0, layer_types=(), local_rope_theta=None),
    "gemma2": dict(qk_norm=None, attn_logit_softcap=50.0, final_logit_softcap=30.0),
    "olmo2": dict(activation="silu", pre_norm=False, qk_norm="proj", norm_offset=0.0, embed_scale=1.0),
    "qwen2": dict(activation="silu", qk_norm=None, qkv_bias=True, post_attn_norm=False, post_ffn_norm=False),
    "gpt2": dict(norm_type="layer", norm_offset=0.0, mlp_type="dense", activation="gelu_tanh", qk_norm=None,
                 position_type="learned", max_seq_len=64, qkv_bias=True, out_bias=True, mlp_bias=True,
                 post_attn_norm=False, post_ffn_norm=False, embed_scale=1.0, layer_types=(),
                 local_rope_theta=None, tie_embeddings=False),
    "bloom": dict(norm_type="layer", norm_offset=0.0, mlp_type="dense", activation="gelu_tanh", qk_norm=None,
                  position_type="alibi", embed_norm=True, qkv_bias=True, out_bias=True, mlp_bias=True,
                  post_attn_norm=False, post_ffn_norm=False, embed_scale=1.0, layer_types=(),
                  local_rope_theta=None),
}  # fmt: skip


def _batch(vocab=97):
    tokens = np.array([[0, 0, 5, 17, 33, 8, 61, 2], [3, 9, 14, 27, 40, 52, 66, 71]], np.int32)
    mask = tokens != 0
    mask[1] = True
    return tokens, mask


def _biasfree(model: Decoder) -> Decoder:
    """Zero every bias (they absorb relevance, so conservation is exact only without)."""
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        if "bias" in str(path[-1]) or str(path[-1]).endswith("_bias"):
            var.value = jnp.zeros_like(var.value)
    return model


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["logit", "logprob"])
def test_cp_lrp_conserves_at_every_layer_on_a_bias_free_model(family, kind):
    """CP-LRP passes no gradient through softmaxes or gates, so every operation it explains
    is linear or an identity rule: each layer's total equals the explained output."""
    model = _biasfree(tiny_model(3, **FAMILIES[family]))
    tokens, mask = _batch()
    pos = np.array([[6, 4], [5, 3]])
    ids = np.take_along_axis(tokens, pos + 1, axis=1)  # teacher forcing (any ids for logits)
    rel = relevance(model, tokens, mask, pos, ids, kind=kind, rules="cp_lrp")
    totals = np.asarray(rel.relevance).sum(-1)  # [L + 1, B]
    scale = np.abs(np.asarray(rel.relevance)).sum(-1).max()
    np.testing.assert_allclose(totals, np.broadcast_to(rel.explained, totals.shape), atol=2e-5 * scale)
    assert np.all(np.asarray(rel.relevance)[:, 0, :2] == 0)  # pads carry nothing


@pytest.mark.parametrize("family", FAMILIES)
def test_attnlrp_conserves_at_the_last_layer_and_leaks_only_in_softmaxes(family):
    """AttnLRP: the last residual stream explains the logit exactly (the final norm is a
    constant); earlier layers differ by what the attention softmaxes absorb (the half of an
    attention output's relevance that the A.v uniform rule gives to A reaches q and k only
    through the softmax gradient, which is not conservative)."""
    model = _biasfree(tiny_model(4, **FAMILIES[family]))
    tokens, mask = _batch()
    rel = relevance(model, tokens, mask, np.array([7, 7]), np.array([4, 9]), rules="attnlrp")
    last = np.asarray(rel.relevance)[-1].sum(-1)
    np.testing.assert_allclose(last, rel.explained, rtol=2e-5, atol=1e-5)
    assert np.all(np.isfinite(np.asarray(rel.relevance)))


def test_plain_rules_equal_gradient_times_input():
    """Layer 0 against the parameter gradient of the embedding table (distinct tokens), the
    last layer against jax.grad of the readout: gradient x input, computed independently."""
    model = tiny_model(5)
    tokens = np.array([[3, 9, 14, 27, 40, 52]], np.int32)
    mask = np.ones_like(tokens, bool)
    rel = relevance(model, tokens, mask, np.array([5]), np.array([7]), rules="plain", remat="none")

    def logit(m):
        return m(tokens, mask).logits[0, 5, 7]

    grads = nnx.grad(logit)(model)
    table, gtable = model.embed[...], grads.embed[...]
    expected0 = (table[tokens[0]] * gtable[tokens[0]]).sum(-1)  # e = table * s, de = dtable / s
    np.testing.assert_allclose(rel.relevance[0, 0], expected0, rtol=1e-4, atol=1e-6)
    final = model(tokens, mask, return_final=True).final
    gfinal = jax.grad(lambda f: model.readout(f)[0, 5, 7])(final)
    np.testing.assert_allclose(rel.relevance[-1], (final * gfinal).sum(-1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rel.value, [logit(model)], rtol=1e-6)


def test_remat_and_left_padding_change_nothing():
    model = tiny_model(6)
    tokens = np.array([[3, 9, 14, 27, 40]], np.int32)
    alone = relevance(model, tokens, None, np.array([4]), np.array([8]), remat="none")
    padded = np.array([[0, 0, 3, 9, 14, 27, 40]], np.int32)
    mask = padded != 0
    rel = relevance(model, padded, mask, np.array([6]), np.array([8]), remat="full")
    np.testing.assert_allclose(rel.relevance[:, :, 2:], alone.relevance, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(rel.value, alone.value, rtol=1e-5)


def test_with_rules_shares_the_weights_and_keeps_the_forward():
    model = tiny_model(7)
    lrp = with_rules(model, "attnlrp")
    assert lrp.cfg.rules == "attnlrp" and model.cfg.rules == "plain"
    assert lrp.embed[...] is model.embed[...]
    tokens = np.array([[3, 9, 14]], np.int32)
    np.testing.assert_array_equal(lrp(tokens).logits, model(tokens).logits)


def test_bad_input():
    model = tiny_model(8)
    tokens = np.array([[0, 3, 9, 14]], np.int32)
    mask = tokens != 0
    with pytest.raises(AttributionError, match="target position 0 is outside the prompt"):
        relevance(model, tokens, mask, np.array([0]), np.array([1]))
    with pytest.raises(AttributionError, match="target position 9 is outside the prompt"):
        relevance(model, tokens, mask, np.array([9]), np.array([1]))
    with pytest.raises(AttributionError, match="last position 3 has no next token"):
        relevance(model, tokens, mask, np.array([3]), np.array([1]), kind="logprob")
    with pytest.raises(AttributionError, match="unknown target kind 'prob'"):
        relevance(model, tokens, mask, np.array([3]), np.array([1]), kind="prob")
    with pytest.raises(ValueError, match="unknown rule set 'lrp'; known: plain, attnlrp, cp_lrp"):
        relevance(model, tokens, mask, np.array([3]), np.array([1]), rules="lrp")
    with pytest.raises(AttributionError, match=r"target ids must be in \[-1, 97\) for kind 'logit'"):
        relevance(model, tokens, mask, np.array([3]), np.array([97]))
    with pytest.raises(AttributionError, match=r"must be in \[0, 97\) for kind 'logprob'"):
        relevance(model, tokens, mask, np.array([2]), np.array([-1]), kind="logprob")


def test_id_minus_one_explains_the_top_token():
    model = tiny_model(9)
    tokens = np.array([[3, 9, 14, 27]], np.int32)
    top = int(np.argmax(model(tokens).logits[0, 3]))
    auto = relevance(model, tokens, None, np.array([3]), np.array([-1]))
    given = relevance(model, tokens, None, np.array([3]), np.array([top]))
    assert int(auto.ids[0, 0]) == top
    np.testing.assert_array_equal(auto.relevance, given.relevance)


def test_relevance_under_every_mesh_equals_one_device(tmp_path):
    """8 simulated devices in a subprocess (the suite keeps one): weights sharded by the
    default rules, activations constrained, relevance equal to the single-device run."""
    result = run_on_8_devices("sharded_relevance.py", tmp_path, timeout=600)
    assert set(result) == {"8x1x1", "2x2x2", "1x4x2", "2x1x4"}
    for mesh, r in result.items():
        assert r["relevance_err"] < 1e-5 and r["value_err"] < 1e-5 and r["same_ids"], (mesh, r)

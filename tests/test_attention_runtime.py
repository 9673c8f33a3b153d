"""Runtime behaviour of the decoder's attention: windows by position, cache overflow,
shared prefixes read in place, query chunking, the fused vs explicit paths, the
precision of the attention logits and rematerialisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config, tiny_model
from flax import nnx

from xling.models.decoder import CacheOverflowError, Decoder, KVCache
from xling.models.layers import attention

RTOL = 1e-5


def assert_close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    err = np.abs(actual - expected).max() / np.abs(expected).max()
    assert err <= rtol, f"max relative error {err:.2e} > {rtol:.0e}"


def ids(n, seed):
    return np.random.default_rng(seed).integers(1, 97, n).astype(np.int32)


def same_weights(model, **overrides):
    other = Decoder(model.cfg.replace(**overrides), rngs=nnx.Rngs(9))
    nnx.update(other, nnx.state(model))
    return other


@pytest.fixture(scope="module")
def model():
    return tiny_model()  # sliding window 3 on three of four layers


def test_window_counts_positions_not_cache_slots(model):
    # Row 1 is left-padded in the prefill, and its tail is right-padded: its real tokens
    # are not contiguous in the cache. Window 3 makes slot distance != position distance.
    a, b = ids(6, 1), ids(3, 2)
    tail_a, tail_b = ids(2, 3), ids(1, 4)
    prompt = np.stack([a, np.concatenate([[0, 0, 0], b])])
    pmask = np.array([[1] * 6, [0, 0, 0, 1, 1, 1]], bool)
    tail = np.stack([tail_a, np.concatenate([tail_b, [0]])])
    tmask = np.array([[1, 1], [1, 0]], bool)
    cache = model.prefill(jnp.asarray(prompt), jnp.asarray(pmask), size=12)
    cache = model(jnp.asarray(tail), jnp.asarray(tmask), cache=cache, return_logits=False).cache
    step = np.array([[5], [7]], np.int32)
    got = model(jnp.asarray(step), cache=cache).logits[:, -1]
    for row, seq in enumerate([np.concatenate([a, tail_a, [5]]), np.concatenate([b, tail_b, [7]])]):
        want = model(jnp.asarray(seq[None])).logits[0, -1]
        assert_close(got[row], want)


def test_cache_overflow_raises(model):
    cache = KVCache.empty(model.cfg, 1, 8)
    with pytest.raises(CacheOverflowError, match="10 tokens do not fit a KV cache of 8 slots"):
        model(jnp.asarray(ids(10, 1)[None]), cache=cache)
    cache = model(jnp.asarray(ids(5, 1)[None]), cache=cache).cache
    with pytest.raises(CacheOverflowError, match="5 of 8 slots used, 4 more"):
        model(jnp.asarray(ids(4, 2)[None]), cache=cache)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"position_type": "alibi", "qk_norm": None}, {"attn_logit_softcap": 5.0}],
    ids=["rope-window", "alibi", "softcap"],
)
def test_shared_prefix_equals_separate_forwards(overrides):
    model = tiny_model(**overrides)
    # Two groups with left-padded prefixes of different lengths, three tails each.
    prefixes = [ids(5, 10), ids(3, 11)]
    p = np.zeros((2, 5), np.int32)
    pm = np.zeros((2, 5), bool)
    for i, pre in enumerate(prefixes):
        p[i, 5 - len(pre) :], pm[i, 5 - len(pre) :] = pre, True
    tails = [ids(n, 20 + j) for j, n in enumerate([4, 2, 3, 1, 4, 2])]
    t = np.zeros((6, 4), np.int32)
    tm = np.zeros((6, 4), bool)
    for j, tail in enumerate(tails):
        t[j, : len(tail)], tm[j, : len(tail)] = tail, True
    prefix = model.prefill(jnp.asarray(p), jnp.asarray(pm))
    out = model(jnp.asarray(t), jnp.asarray(tm), prefix=prefix, return_hidden=True)
    for j, tail in enumerate(tails):
        full = np.concatenate([prefixes[j // 3], tail])[None]
        want = model(jnp.asarray(full), return_hidden=True)
        n = len(tail)
        assert_close(out.logits[j, :n], want.logits[0, -n:])
        assert_close(out.hidden_states[:, j, :n], want.hidden_states[:, 0, -n:])


def test_query_chunks_equal_one_block(model):
    x = jnp.asarray(np.stack([ids(11, 1), ids(11, 2)]))
    mask = jnp.asarray(np.arange(11)[None] >= np.array([[0], [4]]))
    whole = model(x, mask, return_hidden=True)
    chunked = same_weights(model, attention_chunk=4)(x, mask, return_hidden=True)
    assert_close(chunked.hidden_states, whole.hidden_states)
    assert_close(chunked.logits, whole.logits)


def test_fused_and_explicit_attention_agree(model):
    assert not model.cfg.uses_explicit_attention
    x = jnp.asarray(np.stack([ids(9, 1), ids(9, 2)]))
    mask = jnp.asarray(np.arange(9)[None] >= np.array([[0], [3]]))
    fused = model(x, mask, return_hidden=True)
    explicit = same_weights(model, attention_impl="explicit")(x, mask, return_hidden=True)
    assert_close(explicit.hidden_states, fused.hidden_states)


@pytest.mark.parametrize("impl", ["xla", "explicit"])
def test_bf16_inputs_get_fp32_attention_logits(impl):
    # Exact bf16 inputs whose products are 256 and 257: bf16 resolution there is 2, so a
    # bf16 q.k product ties the two keys; fp32 logits tell them apart.
    cfg = tiny_config(num_heads=1, num_kv_heads=1, head_dim=2, dtype="bfloat16", attention_impl=impl)
    q = jnp.asarray([[[[1.0, 1.0]]]], jnp.bfloat16)
    k = jnp.asarray([[[[256.0, 0.0]], [[256.0, 1.0]]]], jnp.bfloat16)
    v = jnp.asarray([[[[1.0, 0.0]], [[0.0, 0.0]]]], jnp.bfloat16)
    mask = jnp.ones((1, 1, 2), bool)
    cfg = cfg.replace(query_pre_attn_scalar=1.0)  # scale 1
    out = attention(cfg, q, k, v, mask, jnp.zeros((1, 2), jnp.int32))
    want = 1 / (1 + np.e)  # softmax([256, 257])[0]
    assert abs(float(out[0, 0, 0, 0]) - want) < 5e-3
    rounded = attention(cfg.replace(attention_dtype="bfloat16"), q, k, v, mask, jnp.zeros((1, 2), jnp.int32))
    assert abs(float(rounded[0, 0, 0, 0]) - want) > 0.1  # what a bf16 product would give


def test_remat_policies_give_the_same_gradients(model):
    x = jnp.asarray(np.stack([ids(7, 1), ids(7, 2)]))

    def grads(m):
        graphdef, state = nnx.split(m)
        loss = lambda s: jnp.sum(jax.nn.log_softmax(nnx.merge(graphdef, s)(x).logits)[..., 3])  # noqa: E731
        return jax.tree.leaves(jax.jit(jax.grad(loss))(state))

    base = grads(model)
    for policy in ("full", "dots"):
        for got, want in zip(grads(same_weights(model, remat=policy)), base, strict=True):
            assert_close(got, want, rtol=1e-5)


def test_bad_runtime_fields():
    with pytest.raises(ValueError, match="attention_impl 'flash' is not one of"):
        tiny_config(attention_impl="flash")
    with pytest.raises(ValueError, match="remat 'some' is not one of"):
        tiny_config(remat="some")
    with pytest.raises(ValueError, match="attention_dtype 'fp8' is not one of"):
        tiny_config(attention_dtype="fp8")

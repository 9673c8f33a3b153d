"""The shared decoder on small random models: equivalences that must hold exactly
(up to fp32 reassociation) whatever the weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config, tiny_model
from flax import nnx

from xling.models.decoder import Decoder, KVCache

RTOL = 1e-5  # fp32, relative to the largest magnitude in the compared tensor


def assert_close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    err = np.abs(actual - expected).max() / np.abs(expected).max()
    assert err <= rtol, f"max relative error {err:.2e} > {rtol:.0e}"


def tokens(batch=2, length=9, seed=1, vocab=97):
    return jnp.asarray(np.random.default_rng(seed).integers(1, vocab, (batch, length)), jnp.int32)


@pytest.mark.parametrize("kv_heads", [4, 2, 1], ids=["MHA", "GQA", "MQA"])
def test_scan_equals_unrolled(kv_heads):
    scanned = tiny_model(num_kv_heads=kv_heads)
    unrolled = Decoder(tiny_config(num_kv_heads=kv_heads, scan_layers=False), rngs=nnx.Rngs(5))
    nnx.update(unrolled, nnx.state(scanned))
    ids = tokens()
    a = scanned(ids, return_hidden=True)
    b = unrolled(ids, return_hidden=True)
    assert a.hidden_states.shape == (5, 2, 9, 32)
    assert_close(a.hidden_states, b.hidden_states)
    assert_close(a.logits, b.logits)


def test_hidden_state_conventions():
    model = tiny_model()
    ids = tokens()
    out = model(ids, return_hidden=True)
    assert_close(out.hidden_states[0], model.embed[...][ids] * 32**0.5)
    assert_close(out.logits, model.readout(out.hidden_states[-1]))


def test_left_padded_rows_equal_unpadded():
    model = tiny_model()
    long, short = tokens(1, 8, seed=2)[0], tokens(1, 5, seed=3)[0]
    batch = jnp.stack([long, jnp.concatenate([jnp.zeros(3, jnp.int32), short])])
    mask = jnp.asarray([[1] * 8, [0] * 3 + [1] * 5], bool)
    padded = model(batch, mask, return_hidden=True)
    alone = model(short[None], return_hidden=True)
    full = model(long[None], return_hidden=True)
    assert_close(padded.hidden_states[:, 1, 3:], alone.hidden_states[:, 0])
    assert_close(padded.logits[1, 3:], alone.logits[0])
    assert_close(padded.hidden_states[:, 0], full.hidden_states[:, 0])


def test_sliding_window_limits_attention():
    # Window 3, 4 local layers: the last position sees back 4 * (3 - 1) = 8 tokens, not 11.
    model = tiny_model(layer_types=("local",) * 4)
    ids = tokens(1, 12)
    changed = ids.at[0, 0].set((ids[0, 0] % 96) + 1)
    assert_close(model(ids).logits[0, -1], model(changed).logits[0, -1])
    glob = tiny_model(layer_types=("local", "local", "local", "global"))
    assert not np.allclose(glob(ids).logits[0, -1], glob(changed).logits[0, -1])


def test_kv_cache_matches_full_forward():
    model = tiny_model()
    ids = tokens(2, 10, seed=4)
    mask = jnp.ones_like(ids, bool).at[1, :2].set(False)
    full = model(ids, mask)
    cache = KVCache.empty(model.cfg, 2, 12)
    out = model(ids[:, :6], mask[:, :6], cache=cache)
    pieces = [out.logits]
    for t in range(6, 10):
        out = model(ids[:, t : t + 1], mask[:, t : t + 1], cache=out.cache)
        pieces.append(out.logits)
    assert int(out.cache.index) == 10
    assert_close(jnp.concatenate(pieces, axis=1)[1, 2:], full.logits[1, 2:])
    assert_close(jnp.concatenate(pieces, axis=1)[0], full.logits[0])


def test_last_logits_only():
    model = tiny_model()
    ids = tokens()
    assert_close(model(ids, return_logits="last").logits[:, 0], model(ids).logits[:, -1])
    assert model(ids, return_logits=False).logits is None


def test_bf16_params_run():
    model = tiny_model(param_dtype="bfloat16", dtype="bfloat16")
    out = model(tokens(), return_hidden=True)
    assert out.hidden_states.dtype == jnp.bfloat16 and out.logits.dtype == jnp.float32
    assert np.isfinite(np.asarray(out.logits)).all()


def test_bad_config_values():
    with pytest.raises(ValueError, match="num_kv_heads"):
        tiny_config(num_heads=4, num_kv_heads=3)
    with pytest.raises(ValueError, match="layer_types has 2 entries for 4 layers"):
        tiny_config(layer_types=("local", "global"))
    with pytest.raises(ValueError, match="dtype 'int8'"):
        tiny_config(param_dtype="int8")
    with pytest.raises(ValueError, match="activation"):
        tiny_config(activation="relu6")


def test_abstract_model_allocates_nothing():
    cfg = tiny_config(vocab_size=262_144, d_model=5376, num_layers=62, num_heads=32, num_kv_heads=16,
                      head_dim=128, mlp_dim=21504, layer_types=())  # fmt: skip
    abstract = nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0)))
    leaves = jax.tree.leaves(nnx.state(abstract))
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
    assert sum(x.size for x in leaves) > 25e9

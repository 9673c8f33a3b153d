"""Greedy decoding with the KV cache against a plain argmax loop without one."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_model
from flax import nnx

from xling.generate import greedy_generate


def naive_greedy(model, row: list[int], steps: int) -> list[int]:
    """Full forward per step; left-padded to one width so it compiles once."""
    forward = nnx.jit(lambda m, ids, mask: m(ids, mask).logits[0, -1])
    width, out = len(row) + steps, []
    for _ in range(steps):
        seq = row + out
        ids = jnp.asarray([[0] * (width - len(seq)) + seq])
        mask = jnp.arange(width)[None] >= width - len(seq)
        out.append(int(jnp.argmax(forward(model, ids, mask))))
    return out


def test_cached_greedy_equals_recomputing_everything():
    model = tiny_model(seed=3)
    prompts = [[5, 17, 33, 2, 8, 40], [9, 11, 4]]
    width = max(map(len, prompts))
    ids = np.zeros((2, width), np.int32)
    mask = np.zeros((2, width), bool)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :], mask[i, width - len(p) :] = p, True
    got = greedy_generate(model, ids, mask, max_new_tokens=7)
    assert got.shape == (2, 7)
    for i, p in enumerate(prompts):
        assert got[i].tolist() == naive_greedy(model, p, 7)


def test_tokens_after_eos_are_padding():
    model = tiny_model(seed=3)
    prompt = np.asarray([[5, 17, 33, 2, 8, 40]], np.int32)
    free = greedy_generate(model, prompt, np.ones_like(prompt, bool), max_new_tokens=6)[0]
    eos = int(free[2])
    stopped = greedy_generate(model, prompt, np.ones_like(prompt, bool), max_new_tokens=6, eos_id=eos)[0]
    first = free.tolist().index(eos)
    assert stopped[: first + 1].tolist() == free[: first + 1].tolist()
    assert (stopped[first + 1 :] == model.cfg.pad_id).all()


def test_bad_length():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        greedy_generate(model, np.ones((1, 3), np.int32), np.ones((1, 3), bool), 0)

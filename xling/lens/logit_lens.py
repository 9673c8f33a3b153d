"""Logit lens at the last prompt position: the model's own readout applied to every layer."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from xling.models.decoder import Decoder


@struct.dataclass
class LensTopK:
    """ids and probs: [layers + 1, B, k]; entropy (nats): [layers + 1, B]."""

    ids: np.ndarray
    probs: np.ndarray
    entropy: np.ndarray


def logit_lens_topk(model: Decoder, tokens, attention_mask, k: int = 5) -> LensTopK:
    graphdef, state = nnx.split(model)
    out = _lens(graphdef, state, jnp.asarray(tokens), jnp.asarray(attention_mask, bool), k)
    return jax.tree.map(np.asarray, out)


@functools.partial(jax.jit, static_argnames=("graphdef", "k"))
def _lens(graphdef, state, tokens, mask, k: int) -> LensTopK:
    model: Decoder = nnx.merge(graphdef, state)
    hidden = model(tokens, mask, return_hidden=True, return_logits=False).hidden_states

    # One layer at a time keeps the peak at [B, V] instead of [layers, B, V].
    def per_layer(_, h_last):
        logp = jax.nn.log_softmax(model.readout(h_last), axis=-1)
        top_lp, top_ids = jax.lax.top_k(logp, k)
        entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
        return None, (top_ids, jnp.exp(top_lp), entropy)

    _, (ids, probs, entropy) = jax.lax.scan(per_layer, None, hidden[:, :, -1])
    return LensTopK(ids=ids, probs=probs, entropy=entropy)

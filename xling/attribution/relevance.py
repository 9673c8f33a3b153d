"""Layer-wise relevance of a model output to every layer's residual stream.

`relevance(model, tokens, mask, targets)` returns `R[layer, batch, token] = sum_d h * grad`
for the residual stream h after each layer (layer 0: the embedding output, with the
embedding scale, learned positions and embedding norm applied), where the gradient is
taken under a rule set of `xling.models.rules` ("attnlrp" by default; "plain" gives
gradient x input; "cp_lrp" CP-LRP). The explained output of a row is a sum over its targets
`(position, token id)`:

- kind "logit": the token's logit at the position (after a final softcap, if any); id -1
  picks the model's own top token there (the first token greedy decoding generates).
- kind "logprob": the token's log-probability at the position, teacher-forced (the id is the
  next token). The log-softmax keeps its exact gradient (AttnLRP leaves softmaxes alone),
  so the conserved quantity is `z_id - sum_v p_v z_v` per target, reported as `explained`.

How memory stays bounded: the relevance is taken where the gradient is
(`rules.relevance_tap`), so only [L + 1, B, T] floats come back; the final states are read
only at target positions (no [B, T, V] logits); and the scanned layers are rematerialised
(`remat`, default "full"), so the backward pass keeps one layer's insides at a time plus
each layer's input.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from xling.errors import XlingError
from xling.models.decoder import Decoder
from xling.models.rules import get_rules
from xling.partitioning import Partitioning, activate

Kind = Literal["logit", "logprob"]
KINDS = ("logit", "logprob")


class AttributionError(XlingError, ValueError):
    """Bad attribution input: a target outside the prompt, an unknown rule set or kind."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Relevance:
    """relevance: [L + 1, B, T] float32 (layer 0 = embeddings); value: [B], the explained
    output (sum of the targets' logits or log-probabilities); explained: [B], the quantity a
    conservative rule set would conserve (the value for "logit"; for "logprob", the sum of
    `z_id - E_p[z]`); ids: [B, S], the explained token ids."""

    relevance: jax.Array
    value: jax.Array
    explained: jax.Array
    ids: jax.Array  # [B, S], the target ids (an id -1 replaced by the top token)


def with_rules(model: Decoder, rules: str, remat: str | None = "full") -> Decoder:
    """The same weights under another rule set (and remat policy): a new module sharing the
    parameter arrays; the forward pass is unchanged."""
    get_rules(rules)  # unknown: a one-line error naming the known ones
    cfg = model.cfg.replace(rules=rules, **({} if remat is None else {"remat": remat}))
    if cfg == model.cfg:
        return model
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))
    return nnx.merge(graphdef, nnx.state(model))


def check_targets(mask: np.ndarray, positions: np.ndarray, kind: str) -> None:
    """Every target position (>= 0) is a real token of its row, and for "logprob" not the
    row's last token (the scored id is the next one)."""
    if kind not in KINDS:
        raise AttributionError(f"unknown target kind {kind!r} (known: {', '.join(KINDS)})")
    mask, positions = np.asarray(mask, bool), np.asarray(positions)
    b, t = mask.shape
    for row in range(b):
        for p in positions[row]:
            if p < 0:
                continue
            if p >= t or not mask[row, p]:
                raise AttributionError(f"row {row}: target position {int(p)} is outside the prompt")
            if kind == "logprob" and p == t - 1:
                raise AttributionError(
                    f"row {row}: a log-probability target at the last position {int(p)} has no next token"
                )


@functools.partial(jax.jit, static_argnames=("graphdef", "kind", "partitioning"))
def _relevance(graphdef, state, tokens, mask, positions, ids, kind, partitioning):
    model = nnx.merge(graphdef, state)
    cfg = model.cfg
    b, t = tokens.shape
    valid = positions >= 0
    where = jnp.maximum(positions, 0)

    def explained(probes):
        with activate(partitioning):
            out = model(tokens, mask, probes=probes, return_logits=False, return_final=True)
            final = jnp.take_along_axis(out.final, where[..., None], axis=1)  # [B, S, D]
            logits = model.readout(final).astype(jnp.float32)  # [B, S, V]
        chosen = jnp.where(ids < 0, jnp.argmax(logits, axis=-1), ids)
        picked = jnp.take_along_axis(logits, chosen[..., None], axis=-1)[..., 0]
        if kind == "logit":
            value = conserved = picked
        else:
            logz = jax.nn.logsumexp(logits, axis=-1)
            p = jax.lax.stop_gradient(jax.nn.softmax(logits, axis=-1))
            value = picked - logz
            conserved = jax.lax.stop_gradient(picked - (p * logits).sum(-1))
        value = jnp.where(valid, value, 0.0).sum(-1)
        conserved = jnp.where(valid, conserved, 0.0).sum(-1)
        return value.sum(), (value, conserved, chosen)

    probes = jnp.zeros((cfg.num_layers + 1, b, t), jnp.float32)
    grads, (value, conserved, chosen) = jax.grad(explained, has_aux=True)(probes)
    return Relevance(grads, value, conserved, chosen)


def relevance(
    model: Decoder,
    tokens,
    mask,
    positions,
    ids,
    *,
    kind: Kind = "logit",
    rules: str = "attnlrp",
    remat: str | None = "full",
    partitioning: Partitioning | None = None,
) -> Relevance:
    """Relevance of each row's targets to every layer's residual stream.

    tokens, mask: [B, T] (left padding allowed: mask 0 on pads). positions, ids: [B] or [B, S]
    ints, the targets of each row (position -1: no target; the row then explains nothing).
    For kind "logprob" the id is normally tokens[row, position + 1] (teacher forcing); for
    "logit", -1 explains the top token.
    """
    tokens = np.asarray(tokens, np.int32)
    mask = np.ones(tokens.shape, bool) if mask is None else np.asarray(mask, bool)
    positions = np.asarray(positions, np.int32)
    ids = np.asarray(ids, np.int32)
    if positions.ndim == 1:
        positions, ids = positions[:, None], ids[:, None]
    if positions.shape != ids.shape or positions.shape[0] != tokens.shape[0]:
        raise AttributionError(
            f"positions {positions.shape} and ids {ids.shape} must be [B] or [B, S] with B = {tokens.shape[0]}"
        )
    check_targets(mask, positions, kind)
    vocab = model.cfg.vocab_size
    low = -1 if kind == "logit" else 0  # -1: the top token (logits only)
    if ids.size and (ids.min() < low or ids.max() >= vocab):
        raise AttributionError(
            f"target ids must be in [{low}, {vocab}) for kind {kind!r}, got {int(ids.min())}..{int(ids.max())}"
        )
    graphdef, state = nnx.split(with_rules(model, rules, remat))
    return _relevance(graphdef, state, tokens, mask, positions, ids, kind, partitioning)

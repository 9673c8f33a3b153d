"""The causal-LM loss with a loss mask and packed segments.

A batch row holds `tokens` and, aligned with them, `targets` (the next token of each
position, usually `tokens` shifted left), a `loss_mask` (1 where the target is scored: 0 on
padding, on prompt tokens in supervised fine-tuning, and on the last token of each packed
document, whose next token belongs to another document) and `segment_ids` (which packed
document a token belongs to; 0 = padding). Documents in one row attend only within
themselves and their positions restart at 0 (`Decoder(segment_ids=...)`).

The loss is returned as a sum and a count, not a mean, so that micro-batches accumulate
exactly: the mean over the whole batch is `sum(sums) / sum(counts)`, whatever the split.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from xling.errors import DataError


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Batch:
    """[B, T] arrays (or [A, B, T] for A accumulation steps)."""

    tokens: jax.Array
    targets: jax.Array
    loss_mask: jax.Array
    segment_ids: jax.Array

    @classmethod
    def from_rows(cls, rows: list[list[int]], length: int, pad_id: int = 0, prompt_lengths=None) -> Batch:
        """One unpacked document per row, right-padded to `length`; `prompt_lengths[i]` tokens
        of row i are not scored (supervised fine-tuning)."""
        b = len(rows)
        tokens = np.full((b, length), pad_id, np.int32)
        targets = np.zeros((b, length), np.int32)
        mask = np.zeros((b, length), np.float32)
        seg = np.zeros((b, length), np.int32)
        for i, row in enumerate(rows):
            if len(row) < 2 or len(row) > length:
                raise DataError(f"row {i}: {len(row)} tokens (need 2..{length})")
            n = len(row)
            tokens[i, :n], seg[i, :n] = row, 1
            targets[i, : n - 1] = row[1:]
            start = prompt_lengths[i] - 1 if prompt_lengths is not None else 0
            mask[i, max(start, 0) : n - 1] = 1.0
        return cls(tokens, targets, mask, seg)


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Negative log-likelihood of each target under fp32 logits ([..., V] -> [...]), as
    logsumexp minus the target's logit: its gradient is softmax minus one-hot, with no
    [..., V] log-probability tensor kept for the backward pass."""
    logits = logits.astype(jnp.float32)
    target = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return jax.nn.logsumexp(logits, axis=-1) - target


def loss_sum(model, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(sum of the masked token NLLs, number of scored tokens) of one [B, T] batch.

    The readout runs on the [B * T, D] final states: XLA's CPU backend compiles the
    unembedding's gradient ([B * T, V] x [B * T, D]) about 1.5x faster with one contracting
    dimension than with two (benchmarks/train_throughput.py)."""
    out = model(batch.tokens, batch.segment_ids > 0, segment_ids=batch.segment_ids,
                return_logits=False, return_final=True)  # fmt: skip
    final = out.final.reshape(-1, out.final.shape[-1])
    nll = token_nll(model.readout(final), batch.targets.reshape(-1))
    w = batch.loss_mask.reshape(-1).astype(jnp.float32)
    return (nll * w).sum(), w.sum()

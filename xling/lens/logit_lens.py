"""Logit lens engine: the model's own readout at every layer, reduced on device.

Only reductions leave the device: top-k ids/probabilities, entropy,
KL(final || layer), the probability mass of token sets, and the probability
and rank of given token ids. Logits are built in [position-chunk, vocab-chunk]
tiles (online log-sum-exp, as in flash attention), so the full
[layers, batch, positions, vocab] tensor is never materialised.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from xling.models.decoder import Decoder
from xling.partitioning import Partitioning, activate

Positions = str | Sequence[int] | np.ndarray


@dataclasses.dataclass
class LensTrace:
    """Per-layer lens readings; leading axes [layers + 1, batch, positions].

    Layer 0 reads the embedding output, layer L the last block (the model's own output).
    """

    positions: np.ndarray  # [B, P] token index read at
    topk_ids: np.ndarray  # [L+1, B, P, k]
    topk_probs: np.ndarray  # [L+1, B, P, k]
    entropy: np.ndarray  # [L+1, B, P], nats
    kl: np.ndarray  # [L+1, B, P], KL(final || layer), nats
    set_names: tuple[str, ...] = ()
    set_mass: np.ndarray | None = None  # [L+1, B, P, S]
    token_ids: np.ndarray | None = None  # [B, N]
    token_probs: np.ndarray | None = None  # [L+1, B, P, N]
    token_ranks: np.ndarray | None = None  # [L+1, B, P, N]; 0 = top-1
    # [B, P]: False where the position holds a padding token (possible with positions="all"
    # on a left-padded batch); readings there are of padding and mean nothing.
    valid: np.ndarray | None = None

    @property
    def num_layers(self) -> int:
        return self.entropy.shape[0] - 1

    def to_pandas(self, tokenizer=None):
        """One row per (layer, example, position); with a tokenizer, top-1 token strings too."""
        import pandas as pd

        layers, batch, pos = np.meshgrid(
            np.arange(self.entropy.shape[0]), np.arange(self.entropy.shape[1]), np.arange(self.entropy.shape[2]),
            indexing="ij",
        )  # fmt: skip
        cols: dict[str, Any] = {
            "layer": layers.ravel(),
            "example": batch.ravel(),
            "position": self.positions[batch.ravel(), pos.ravel()],
            "top1_id": self.topk_ids[..., 0].ravel(),
            "top1_prob": self.topk_probs[..., 0].ravel(),
            "entropy": self.entropy.ravel(),
            "kl": self.kl.ravel(),
        }
        if self.valid is not None:
            cols["padding"] = ~self.valid[batch.ravel(), pos.ravel()]
        if tokenizer is not None:
            cols["top1"] = [tokenizer.id_to_token(i) for i in cols["top1_id"]]
        for s, name in enumerate(self.set_names):
            cols[f"p_{name}"] = self.set_mass[..., s].ravel()
        if self.token_ids is not None:
            for n in range(self.token_ids.shape[1]):
                cols[f"prob_{n}"] = self.token_probs[..., n].ravel()
                cols[f"rank_{n}"] = self.token_ranks[..., n].ravel()
        return pd.DataFrame(cols)


def logit_lens(
    model: Decoder,
    tokens,
    attention_mask=None,
    *,
    positions: Positions = "last",
    k: int = 5,
    token_sets: Mapping[str, Any] | None = None,
    token_ids=None,
    lens=None,
    vocab_chunk: int = 16384,
    position_chunk: int = 64,
    batch_chunk: int = 16,
    partitioning: Partitioning | None = None,
) -> LensTrace:
    """Read every layer at `positions` ("last", "all", or indices [P] or [B, P]).

    token_sets: {name: ids}, ids either one id list for every example or one list per
    example (a `TokenSet` works wherever an id list does). token_ids: [N] or [B, N].
    lens: an optional tuned lens (anything with `translate(hidden)`), applied before the readout.
    Examples run batch_chunk at a time, which bounds memory for long all-position reads.
    partitioning: run under a mesh's rules (a sharded model; see `xling.runtime`).
    """
    tokens = np.asarray(tokens)
    b, t = tokens.shape
    mask = np.ones((b, t), bool) if attention_mask is None else np.asarray(attention_mask, bool)
    pos = _positions(positions, b, t)
    valid = np.take_along_axis(mask, pos, axis=1)
    if not isinstance(positions, str) and not valid.all():
        row, col = np.argwhere(~valid)[0]
        raise ValueError(f"position {int(pos[row, col])} of example {int(row)} is a padding token")
    names = tuple(token_sets or ())
    sets = _pad_ids([_per_example(token_sets[n], b, f"token set {n!r}") for n in names], b) if names else None
    ids = None if token_ids is None else _as_rows(token_ids, b)
    vocab_chunk = min(vocab_chunk, model.cfg.vocab_size)
    graphdef, state = nnx.split(model)
    lens_parts = None if lens is None else nnx.split(lens)
    step = min(batch_chunk, b)
    pieces = []
    for start in range(0, b, step):
        rows = np.arange(start, start + step) % b  # the last chunk wraps around to keep one shape
        args = [x[rows] if x is not None else None for x in (tokens, mask, pos, sets, ids)]
        if partitioning is not None:
            args = [
                partitioning.put(x, ("batch",) + (None,) * (x.ndim - 1)) if x is not None else None
                for x in args
            ]
        out = _lens(graphdef, state, lens_parts, *args, k, vocab_chunk, position_chunk, partitioning)
        keep = min(step, b - start)
        pieces.append({key: np.asarray(v)[:, :keep] for key, v in out.items()})
    out = {key: np.concatenate([piece[key] for piece in pieces], axis=1) for key in pieces[0]}
    return LensTrace(
        positions=pos, set_names=names, token_ids=ids, valid=valid, **{key: out.get(key) for key in _FIELDS}
    )


_FIELDS = ("topk_ids", "topk_probs", "entropy", "kl", "set_mass", "token_probs", "token_ranks")


def _positions(positions: Positions, b: int, t: int) -> np.ndarray:
    if isinstance(positions, str):
        if positions == "last":
            return np.full((b, 1), t - 1, np.int32)
        if positions == "all":
            return np.tile(np.arange(t, dtype=np.int32), (b, 1))
        raise ValueError(f"positions must be 'last', 'all' or indices, got {positions!r}")
    raw = np.asarray(positions)
    if raw.dtype.kind not in "iu" and not (raw.dtype.kind == "f" and np.array_equal(raw, np.round(raw))):
        raise ValueError(f"positions must be integer token indices, got {positions!r}")
    pos = raw.astype(np.int64)
    pos = np.tile(pos, (b, 1)) if pos.ndim == 1 else pos
    if pos.ndim != 2 or pos.shape[0] != b or pos.shape[1] == 0:
        raise ValueError(f"positions must have shape [P] or [{b}, P], got {np.shape(positions)}")
    bad = pos[(pos < -t) | (pos >= t)]
    if bad.size:
        raise ValueError(f"position {int(bad[0])} is out of range for {t} tokens")
    return (pos % t).astype(np.int32)


def _id_list(ids, what: str) -> list[int]:
    ids = list(getattr(ids, "ids", ids))
    if not ids:
        raise ValueError(f"{what} is empty")
    return [int(i) for i in ids]


def _per_example(value, b: int, what: str) -> list[list[int]]:
    items = getattr(value, "ids", value)
    if len(items) and not np.isscalar(items[0]):  # one id list (or TokenSet) per example
        if len(items) != b:
            raise ValueError(f"{what} has {len(items)} entries for {b} examples")
        return [_id_list(v, f"{what} of example {i}") for i, v in enumerate(items)]
    return [_id_list(value, what)] * b


def _pad_ids(sets: list[list[list[int]]], b: int) -> np.ndarray:
    width = max(len(ids) for per_set in sets for ids in per_set)
    width = -(-width // 8) * 8  # a few padded widths instead of one compilation per set size
    out = np.full((b, len(sets), width), -1, np.int32)
    for s, per_set in enumerate(sets):
        for i, ids in enumerate(per_set):
            out[i, s, : len(ids)] = sorted(set(ids)) + [-1] * (len(ids) - len(set(ids)))
    return out


def _as_rows(token_ids, b: int) -> np.ndarray:
    ids = np.asarray(token_ids, np.int32)
    ids = np.tile(ids, (b, 1)) if ids.ndim == 1 else ids
    if ids.shape[0] != b or ids.ndim != 2:
        raise ValueError(f"token_ids must have shape [N] or [{b}, N], got {np.shape(token_ids)}")
    return ids


@functools.partial(
    jax.jit, static_argnames=("graphdef", "k", "vocab_chunk", "position_chunk", "partitioning")
)
def _lens(
    graphdef, state, lens_parts, tokens, mask, pos, sets, ids, k, vocab_chunk, position_chunk, partitioning
):
    with activate(partitioning):
        return _lens_body(
            graphdef, state, lens_parts, tokens, mask, pos, sets, ids, k, vocab_chunk, position_chunk
        )


def _lens_body(graphdef, state, lens_parts, tokens, mask, pos, sets, ids, k, vocab_chunk, position_chunk):
    model: Decoder = nnx.merge(graphdef, state)
    hidden = model(tokens, mask, return_hidden=True, return_logits=False).hidden_states
    hidden = jnp.take_along_axis(hidden, pos[None, :, :, None], axis=2)  # [L1, B, P, D]
    if lens_parts is not None:
        hidden = nnx.merge(*lens_parts).translate(hidden)
    normed = model.final_norm(hidden)
    l1, b, p, d = normed.shape
    out: dict[str, jax.Array] = {}

    # Gathered logits for token sets and token ids: exact, and cheap ([.., M] columns).
    def gathered(id_rows):  # id_rows [B, ..., M] (-1 = padding) -> logits [L1, B, P, ..., M]
        w = model.embed[...] if model.cfg.tie_embeddings else model.lm_head[...].T
        rows = jnp.take(w, jnp.maximum(id_rows, 0), axis=0).astype(normed.dtype)
        z = jnp.einsum("lbpd,b...d->lbp...", normed, rows).astype(jnp.float32)
        return model.softcap(z)

    target_logits = gathered(ids) if ids is not None else jnp.zeros((l1, b, p, 0), jnp.float32)
    target_ids = jnp.broadcast_to(
        (ids if ids is not None else jnp.zeros((b, 0), jnp.int32))[:, None], (b, p, target_logits.shape[-1])
    )

    # Rows = (batch, position); tiles of position_chunk rows keep the peak at
    # [L1, position_chunk, vocab_chunk] floats.
    n = b * p
    position_chunk = min(position_chunk, n)  # never pad a small batch up to a full tile
    rows = normed.reshape(l1, n, d)
    targets = target_logits.reshape(l1, n, -1)
    pad = -n % position_chunk
    rows = jnp.pad(rows, ((0, 0), (0, pad), (0, 0)))
    targets = jnp.pad(targets, ((0, 0), (0, pad), (0, 0)))
    target_ids = jnp.pad(target_ids.reshape(n, -1), ((0, pad), (0, 0)))
    chunks = (n + pad) // position_chunk
    rows = rows.reshape(l1, chunks, position_chunk, d).transpose(1, 0, 2, 3)
    targets = targets.reshape(l1, chunks, position_chunk, -1).transpose(1, 0, 2, 3)
    target_ids = target_ids.reshape(chunks, position_chunk, -1)
    stats = jax.lax.map(lambda xs: _tile_stats(model, *xs, k, vocab_chunk), (rows, targets, target_ids))

    def unchunk(x):  # [chunks, L1, Pc, ...] -> [L1, B, P, ...]
        x = x.transpose(1, 0, 2, *range(3, x.ndim)).reshape(l1, chunks * position_chunk, *x.shape[3:])
        return x[:, :n].reshape(l1, b, p, *x.shape[2:])

    stats = {key: unchunk(v) for key, v in stats.items()}
    lse = stats.pop("lse")
    out.update(stats)
    out["topk_probs"] = jnp.exp(out.pop("topk_logits") - lse[..., None])
    if ids is not None:
        out["token_probs"] = jnp.exp(target_logits - lse[..., None])
    else:
        out.pop("token_ranks")
    if sets is not None:
        z = gathered(sets)  # [L1, B, P, S, M]
        prob = jnp.where(sets[None, :, None] >= 0, jnp.exp(z - lse[..., None, None]), 0.0)
        out["set_mass"] = prob.sum(-1)
    return out


def _tile_stats(
    model: Decoder, h, target_logits, target_ids, k: int, vocab_chunk: int
) -> dict[str, jax.Array]:
    """Online statistics of one row tile h [L1, Pc, D] over the whole vocabulary.

    target_logits [L1, Pc, N] / target_ids [Pc, N]: tokens whose rank is counted.
    """
    l1, pc, _ = h.shape
    vocab = model.cfg.vocab_size
    full, rest = divmod(vocab, vocab_chunk)
    neg = jnp.full((l1, pc), -jnp.inf, jnp.float32)
    zero = jnp.zeros((l1, pc), jnp.float32)
    carry = dict(
        m=neg, s0=zero, s1=zero, mf=neg[-1], sf0=zero[-1], tf=zero,
        topv=jnp.full((l1, pc, k), -jnp.inf, jnp.float32), topi=jnp.zeros((l1, pc, k), jnp.int32),
        rank=jnp.zeros(target_logits.shape, jnp.int32),
    )  # fmt: skip

    def update(c, start, size):
        z = model.unembed(h, model.unembedding_rows(start, size))  # [L1, Pc, C]
        m = jnp.maximum(c["m"], z.max(-1))
        e = jnp.exp(z - m[..., None])
        scale = jnp.exp(c["m"] - m)
        zf = z[-1]
        mf = jnp.maximum(c["mf"], zf.max(-1))
        wf = jnp.exp(zf - mf[:, None])
        scale_f = jnp.exp(c["mf"] - mf)
        v, i = jax.lax.top_k(z, min(k, size))
        allv = jnp.concatenate([c["topv"], v], -1)
        alli = jnp.concatenate([c["topi"], i + start], -1)
        topv, order = jax.lax.top_k(allv, k)
        # s1 and tf hold sums of (z - m), not z: entropy and KL subtract log-sum-exp from a mean
        # logit, and with both centred on the running max the O(max logit) parts cancel exactly
        # instead of leaving fp32 summation error times the max logit (~1e-4 nats at |z| ~ 30).
        shift = m - c["m"]  # >= 0; -inf - x on the first chunk, where the sums are still 0
        s1_old = jnp.where(c["s0"] > 0, c["s1"] - c["s0"] * shift, 0.0)
        tf_old = jnp.where(c["sf0"] > 0, c["tf"] - c["sf0"] * shift, 0.0)
        zc = z - m[..., None]
        return dict(
            m=m,
            s0=c["s0"] * scale + e.sum(-1),
            s1=s1_old * scale + (e * zc).sum(-1),
            mf=mf,
            sf0=c["sf0"] * scale_f + wf.sum(-1),
            tf=tf_old * scale_f + jnp.einsum("pc,lpc->lp", wf, zc),
            topv=topv,
            topi=jnp.take_along_axis(alli, order, -1),
            # The target's own column is skipped by id: its gathered logit may differ
            # from the tiled one in the last bit.
            rank=c["rank"]
            + (
                (z[:, :, None, :] > target_logits[..., None])
                & (start + jnp.arange(size) != target_ids[..., None])[None]
            ).sum(-1, dtype=jnp.int32),
        )

    carry, _ = jax.lax.scan(
        lambda c, j: (update(c, j * vocab_chunk, vocab_chunk), None), carry, jnp.arange(full)
    )
    if rest:
        carry = update(carry, full * vocab_chunk, rest)
    log_s0 = jnp.log(carry["s0"])
    lse = carry["m"] + log_s0
    log_q = carry["tf"] / carry["sf0"] - log_s0  # E_{p_final}[log q_layer]
    kl = log_q[-1] - log_q
    return dict(
        lse=lse,
        entropy=log_s0 - carry["s1"] / carry["s0"],
        kl=jnp.maximum(kl, 0.0),  # >= 0 by definition; only fp32 rounding goes below
        topk_logits=carry["topv"],
        topk_ids=carry["topi"],
        token_ranks=carry["rank"],
    )

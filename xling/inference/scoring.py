"""Scoring: log-probabilities of continuations after prompts, and candidate-token logits.

Prompts are scored in groups. Each group is prefilled once into a KV cache up to its
longest common token prefix (few-shot demonstrations, shared instructions), and every
row of the group reads that prefix in place (`Decoder(..., prefix=...)`: broadcast,
never copied per row); only the differing tails run per row, and only the positions
that are read out go through the unembedding. Many groups go through one call.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from xling.errors import DataError
from xling.models.decoder import Decoder
from xling.partitioning import Partitioning, activate
from xling.tokenizer import Tokenizer

LOGITS_BYTES = 1 << 30  # per scoring call's readout (see continuation_logprobs)


def bucket(n: int, step: int) -> int:
    """n rounded up to a multiple of step (at least step): fewer distinct shapes to compile."""
    return max(step, -(-n // step) * step)


def split_continuation(tokenizer: Tokenizer, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of `prompt` (with special tokens) and of `continuation` after it.

    The two are tokenized together, as the model would read the full text, and split
    where the prompt ends. Trailing whitespace of the prompt moves to the continuation
    first (`"Answer: " + "dog"` is scored as `"Answer:" + " dog"`): SentencePiece and
    byte-level BPE both attach a space to the word after it. Encoding the continuation
    on its own would be wrong for tokenizers that add a dummy prefix to every text.
    Where a token straddles the boundary, it counts as part of the continuation.
    """
    stripped = prompt.rstrip()
    continuation = prompt[len(stripped) :] + continuation
    if not continuation:
        raise DataError("an empty continuation cannot be scored")
    enc = tokenizer.tok.encode(stripped + continuation)
    context = tokenizer.encode(stripped)
    whole = list(enc.ids)
    if whole[: len(context)] == context and len(whole) > len(context):
        return context, whole[len(context) :]
    cut = len(stripped)
    n_prompt = 0
    for i, (_, end) in enumerate(enc.offsets):
        if end > cut:  # special tokens (BOS) have offsets (0, 0) and stay in the prompt
            break
        n_prompt = i + 1
    if n_prompt == len(whole):
        raise DataError(f"continuation {continuation!r} adds no tokens to its prompt")
    return whole[:n_prompt], whole[n_prompt:]


@dataclasses.dataclass(frozen=True)
class _Rows:
    """One group: the shared prefix ids, and per row the tail ids and the tail positions read."""

    prefix: list[int]
    tails: list[list[int]]


def _group(rows: list[list[int]], keep: list[int]) -> _Rows:
    """Longest common prefix of the rows, stopping `keep[i]` tokens before row i's end so
    every read position stays in the tail."""
    limit = min(len(r) - k for r, k in zip(rows, keep, strict=True))
    common = 0
    while common < limit and all(r[common] == rows[0][common] for r in rows):
        common += 1
    return _Rows(rows[0][:common], [r[common:] for r in rows])


def _pack(groups: Sequence[_Rows], pad_id: int, reads: Sequence[Sequence[Sequence[int]]]):
    """Arrays for `_read_states`: prefixes [G, P], tails [G*R, S] and read indices [G*R, A].

    Every padded tail token runs through all layers and every padded read through the full
    unembedding, so the short axes use fine steps: tails of 9-10 tokens (CJK words) pad to
    12, not 16, and 3-token answers read 3 positions, not 4 (benchmarks/RESULTS.md). Reads
    stay at least 2 wide: a width of 1 runs slower on XLA:CPU than 2."""
    g = len(groups)
    p_len = bucket(max(len(x.prefix) for x in groups), 16)
    s_len = bucket(max(len(t) for x in groups for t in x.tails), 4)
    r = bucket(max(len(x.tails) for x in groups), 2)
    a_len = max(2, max(len(ix) for rd in reads for ix in rd))
    prefix_ids = np.full((g, p_len), pad_id, np.int32)
    prefix_mask = np.zeros((g, p_len), bool)
    tail_ids = np.full((g * r, s_len), pad_id, np.int32)
    tail_mask = np.zeros(tail_ids.shape, bool)
    where = np.zeros((g * r, a_len), np.int32)
    for i, x in enumerate(groups):
        if x.prefix:
            prefix_ids[i, p_len - len(x.prefix) :], prefix_mask[i, p_len - len(x.prefix) :] = x.prefix, True
        for j, tail in enumerate(x.tails):
            tail_ids[i * r + j, : len(tail)], tail_mask[i * r + j, : len(tail)] = tail, True
            where[i * r + j, : len(reads[i][j])] = reads[i][j]
    return (prefix_ids, prefix_mask, tail_ids, tail_mask, where), r


def continuation_logprobs(
    model: Decoder,
    tokenizer: Tokenizer,
    groups: Sequence[tuple[Sequence[str], Sequence[str]]],
    *,
    partitioning: Partitioning | None = None,
) -> list[list[np.ndarray]]:
    """Per-token log-probabilities (natural log, fp32) of each continuation after its prompt,
    for groups of (prompts, continuations): result[g][i] has one entry per token of
    continuation i of group g. Prompts of a group should share a long prefix (that is what
    makes this fast); any prompts give correct results."""
    if not groups:
        raise DataError("no prompt groups given")
    packed, targets = [], []
    for prompts, continuations in groups:
        if len(prompts) != len(continuations) or not prompts:
            raise DataError(
                f"need equal, non-empty prompt and continuation lists, got {len(prompts)} and {len(continuations)}"
            )
        split = [split_continuation(tokenizer, p, c) for p, c in zip(prompts, continuations, strict=True)]
        rows = [p + c for p, c in split]
        # Keep each continuation (and the prompt token that predicts its first token) in the tail.
        grouped = _group(rows, [len(c) + 1 for _, c in split])
        packed.append(grouped)
        targets.append([c for _, c in split])
    reads = [
        [list(range(len(tail) - 1 - len(c), len(tail) - 1)) for tail, c in zip(x.tails, cs, strict=True)]
        for x, cs in zip(packed, targets, strict=True)
    ]
    # The readout materialises [rows, A, V] fp32 logits (and their log-softmax): groups go
    # through in chunks that keep that under LOGITS_BYTES (the MMLU cloze options of one
    # call reached 13 GB at the 262k Gemma vocabulary).
    r = bucket(max(len(x.tails) for x in packed), 2)
    a_len = max(2, max(len(ix) for rd in reads for ix in rd))
    per_group = 2 * 4 * r * a_len * model.cfg.vocab_size
    step = max(1, LOGITS_BYTES // per_group)
    graphdef, state = nnx.split(model)
    out: list[list[np.ndarray]] = []
    for at in range(0, len(packed), step):
        chunk, chunk_targets = packed[at : at + step], targets[at : at + step]
        arrays, r = _pack(chunk, tokenizer.pad_id, reads[at : at + step])
        arrays = _place(partitioning, arrays)
        ids = np.zeros((len(chunk) * r, arrays[4].shape[1]), np.int32)
        for i, cs in enumerate(chunk_targets):
            for j, c in enumerate(cs):
                ids[i * r + j, : len(c)] = c
        logp = np.asarray(_token_logprobs(graphdef, state, *arrays, ids, partitioning=partitioning))
        out += [[logp[i * r + j, : len(c)] for j, c in enumerate(cs)] for i, cs in enumerate(chunk_targets)]
    return out


def mean_nll_groups(
    model: Decoder,
    tokenizer: Tokenizer,
    groups: Sequence[tuple[Sequence[str], Sequence[str]]],
    *,
    partitioning: Partitioning | None = None,
) -> list[np.ndarray]:
    """Mean negative log-likelihood (nats/token) of each continuation: one array per group."""
    scored = continuation_logprobs(model, tokenizer, groups, partitioning=partitioning)
    return [np.asarray([-float(lp.mean()) for lp in rows], np.float32) for rows in scored]


def choice_logits(
    model: Decoder,
    tokenizer: Tokenizer,
    groups: Sequence[Sequence[str]],
    candidates: Sequence[int],
    *,
    partitioning: Partitioning | None = None,
) -> list[np.ndarray]:
    """Logits of the `candidates` token ids (e.g. the letters of a multiple-choice answer) at
    the position after each prompt: one [len(group), len(candidates)] array per group of
    prompts (a group should share its few-shot demonstrations)."""
    if not groups or not all(groups):
        raise DataError("no prompts given")
    if not candidates:
        raise DataError("no candidate tokens given")
    bad = [c for c in candidates if not 0 <= int(c) < model.cfg.vocab_size]
    if bad:
        raise DataError(f"candidate token id {bad[0]} is outside the vocabulary ({model.cfg.vocab_size})")
    packed = []
    for prompts in groups:
        rows = [tokenizer.encode(p) for p in prompts]
        if not all(rows):
            raise DataError("a prompt has no tokens")
        packed.append(_group(rows, [1] * len(rows)))
    reads = [[[len(t) - 1] for t in x.tails] for x in packed]
    arrays, r = _pack(packed, tokenizer.pad_id, reads)
    arrays = _place(partitioning, arrays)
    graphdef, state = nnx.split(model)
    cand = jnp.asarray(np.asarray(candidates, np.int32))
    logits = np.asarray(_candidate_logits(graphdef, state, *arrays, cand, partitioning=partitioning))
    return [logits[i * r : i * r + len(prompts)] for i, prompts in enumerate(groups)]


def _place(partitioning: Partitioning | None, arrays: tuple) -> tuple:
    """Row-major inputs split over the mesh's batch axes (prefix groups and tail rows alike)."""
    if partitioning is None:
        return arrays
    return tuple(partitioning.put(a, ("batch",) + (None,) * (a.ndim - 1)) for a in arrays)


def _read_states(model: Decoder, prefix_ids, prefix_mask, tail_ids, tail_mask, where):
    """Final-norm input at the `where` positions of every tail row: [rows, A, D]."""
    prefix = model.prefill(prefix_ids, prefix_mask)
    out = model(tail_ids, tail_mask, prefix=prefix, return_logits=False, return_final=True)
    return jnp.take_along_axis(out.final, where[..., None], axis=1)


@functools.partial(jax.jit, static_argnames=("graphdef", "partitioning"))
def _token_logprobs(
    graphdef, state, prefix_ids, prefix_mask, tail_ids, tail_mask, where, ids, *, partitioning
):
    with activate(partitioning):
        model: Decoder = nnx.merge(graphdef, state)
        h = _read_states(model, prefix_ids, prefix_mask, tail_ids, tail_mask, where)
        logp = jax.nn.log_softmax(model.readout(h), axis=-1)  # [rows, A, V]
        return jnp.take_along_axis(logp, ids[..., None], axis=-1)[..., 0]


@functools.partial(jax.jit, static_argnames=("graphdef", "partitioning"))
def _candidate_logits(
    graphdef, state, prefix_ids, prefix_mask, tail_ids, tail_mask, where, cand, *, partitioning
):
    with activate(partitioning):
        model: Decoder = nnx.merge(graphdef, state)
        h = _read_states(model, prefix_ids, prefix_mask, tail_ids, tail_mask, where)[:, 0]
        rows = jnp.take(model.unembedding_rows(), cand, axis=0)  # only the candidates' rows
        return model.unembed(model.final_norm(h), rows)

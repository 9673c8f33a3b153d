"""Batched generation with a KV cache, run on device.

One jitted function per (bucketed batch, bucketed prompt length, max_new_tokens,
sampling settings): the prompt is prefilled in chunks, then a `while_loop` emits a
token per step for every row until each row has ended (an EOS id, a token that
contains a stop string) or `max_new_tokens` is reached, with no host round trip per
token. Text is decoded and cut at the first stop string on the host.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Hashable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from xling.errors import DataError
from xling.models.decoder import Decoder, KVCache
from xling.partitioning import Partitioning, activate
from xling.tokenizer import Tokenizer

PAD = -1  # fills `tokens` after a row has ended: never a real token id


@dataclasses.dataclass(frozen=True)
class Sampling:
    """temperature 0 is greedy decoding; otherwise softmax(logits / temperature) restricted
    to the top_k most likely tokens (0: all) and to the smallest set whose probability
    reaches top_p, sampled with a key derived from (seed, row, step)."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise DataError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise DataError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise DataError(f"top_k must be >= 0, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


GREEDY = Sampling()


@dataclasses.dataclass
class Generation:
    """tokens: [B, N] new ids, PAD (-1) after a row ended (the EOS id itself is kept);
    logprobs: [B, N] the model's log-probability (temperature 1) of each emitted token,
    0 after the end; lengths: [B] tokens emitted per row; texts: decoded without special
    tokens and cut before the first stop string; finish: "eos", "stop" or "length"."""

    tokens: np.ndarray
    logprobs: np.ndarray
    lengths: np.ndarray
    texts: list[str]
    finish: list[str]


def generate(
    model: Decoder,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    sampling: Sampling = GREEDY,
    stop: Sequence[str] = (),
    eos_ids: Sequence[int] | None = None,
    add_special_tokens: bool = True,
    prefill_chunk: int = 256,
    partitioning: Partitioning | None = None,
    groups: Sequence[Hashable] | None = None,
) -> Generation:
    """Continue each prompt. eos_ids: default the model's (`ModelConfig.eos_ids`).

    groups: a key per prompt; prompts with the same key share their longest common token
    prefix (e.g. one context asked several questions), prefilled once for the group and
    copied into each row's cache. The output is the same as without groups.
    """
    if not prompts:
        raise DataError("no prompts given")
    rows = [tokenizer.encode(p, add_special_tokens=add_special_tokens) for p in prompts]
    return generate_ids(
        model,
        tokenizer,
        rows,
        max_new_tokens=max_new_tokens,
        sampling=sampling,
        stop=stop,
        eos_ids=eos_ids,
        prefill_chunk=prefill_chunk,
        partitioning=partitioning,
        groups=groups,
    )


def generate_ids(
    model: Decoder,
    tokenizer: Tokenizer,
    rows: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    sampling: Sampling = GREEDY,
    stop: Sequence[str] = (),
    eos_ids: Sequence[int] | None = None,
    prefill_chunk: int = 256,
    partitioning: Partitioning | None = None,
    groups: Sequence[Hashable] | None = None,
) -> Generation:
    """`generate` from token ids (one list per prompt, special tokens included)."""
    if any(s == "" for s in stop):
        raise DataError("a stop string is empty")
    eos = tuple(model.cfg.eos_ids if eos_ids is None else eos_ids)
    ended = _ending_tokens(model.cfg.vocab_size, eos)
    if stop:
        ended |= stop_token_mask(tokenizer, tuple(stop), model.cfg.vocab_size)
    tokens, logprobs, lengths = _run(
        model, rows, tokenizer.pad_id, ended, max_new_tokens, sampling, prefill_chunk, partitioning, groups
    )
    texts, finish = [], []
    eos_set = set(eos)
    for i in range(len(rows)):
        new = tokens[i, : lengths[i]]
        text = tokenizer.decode(new)
        cut = _cut(text, stop)
        if cut is not None:
            texts.append(text[:cut])
            finish.append("stop")
        else:
            texts.append(text)
            finish.append("eos" if len(new) and int(new[-1]) in eos_set else "length")
    return Generation(tokens=tokens, logprobs=logprobs, lengths=lengths, texts=texts, finish=finish)


def _ending_tokens(vocab_size: int, eos: Sequence[int]) -> np.ndarray:
    """[V] bool: the ids that end a row."""
    ended = np.zeros(vocab_size, bool)
    ended[[e for e in eos if 0 <= e < vocab_size]] = True
    return ended


def _run(model, rows, pad_id: int, ended: np.ndarray, max_new_tokens: int, sampling: Sampling,
         prefill_chunk: int, partitioning: Partitioning | None, groups=None):  # fmt: skip
    """Checked, padded and run on device: (tokens, logprobs, lengths) for the given rows."""
    cfg = model.cfg
    if max_new_tokens < 1:
        raise DataError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if prefill_chunk < 1:
        raise DataError(f"prefill_chunk must be >= 1, got {prefill_chunk}")
    if not rows or not all(len(r) for r in rows):
        raise DataError("a prompt has no tokens")
    longest = max(len(r) for r in rows)
    if longest + max_new_tokens > cfg.max_seq_len:
        raise DataError(
            f"a prompt of {longest} tokens + {max_new_tokens} new tokens exceeds the model's "
            f"context of {cfg.max_seq_len} tokens"
        )
    prefix = None
    if groups is not None:
        prefixes, row_prefix, rows = split_shared_prefixes(rows, groups)
        p_ids, p_mask = _left_pad(prefixes, pad_id, prefill_chunk)
        which = np.zeros(_bucket(len(rows)), np.int32)  # bucketed rows repeat the last prompt
        which[: len(rows)], which[len(rows) :] = row_prefix, row_prefix[-1]
        prefix = (
            jnp.asarray(p_ids),
            jnp.asarray(p_mask),
            jnp.asarray(which),
            min(prefill_chunk, p_ids.shape[1]),
        )
    ids, mask = _left_pad(rows, pad_id, prefill_chunk)
    if partitioning is not None:
        ids, mask = partitioning.put(ids, ("batch", "length")), partitioning.put(mask, ("batch", "length"))
    graphdef, state = nnx.split(model)
    out_ids, out_lp, lengths = _generate(
        graphdef,
        state,
        jnp.asarray(ids),
        jnp.asarray(mask),
        jnp.asarray(ended),
        jnp.asarray(sampling.seed, jnp.uint32),
        None if prefix is None else prefix[:3],
        max_new_tokens=max_new_tokens,
        prefix_chunk=None if prefix is None else prefix[3],
        chunk=min(prefill_chunk, ids.shape[1]),
        temperature=float(sampling.temperature),
        top_p=float(sampling.top_p),
        top_k=int(sampling.top_k),
        partitioning=partitioning,
    )
    n = len(rows)
    return np.asarray(out_ids)[:n], np.asarray(out_lp)[:n], np.asarray(lengths)[:n]


def _cut(text: str, stop: Sequence[str]) -> int | None:
    hits = [i for i in (text.find(s) for s in stop) if i >= 0]
    return min(hits) if hits else None


def split_shared_prefixes(
    rows: Sequence[Sequence[int]], groups: Sequence[Hashable]
) -> tuple[list[list[int]], list[int], list[list[int]]]:
    """(prefixes, prefix index per row, suffixes): each group's prefix is the longest common
    token prefix of its rows, short of each row's last token (every suffix keeps a token)."""
    if len(groups) != len(rows):
        raise DataError(f"{len(groups)} group keys given for {len(rows)} prompts")
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(groups):
        members.setdefault(key, []).append(i)
    prefixes, row_prefix, suffixes = [], [0] * len(rows), [None] * len(rows)
    for index in members.values():
        first = rows[index[0]]
        n = min(len(rows[i]) for i in index) - 1
        for i in index[1:]:
            row = rows[i]
            n = next((k for k in range(n) if row[k] != first[k]), n)
        for i in index:
            row_prefix[i], suffixes[i] = len(prefixes), list(rows[i][n:])
        prefixes.append(list(first[:n]))
    return prefixes, row_prefix, suffixes


def _bucket(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """[B', T'] ids and mask: the batch bucketed to a power of two (at least 1), the length
    to a multiple of the prefill chunk (or of 32 when shorter), so few shapes compile."""
    b = _bucket(len(rows))
    longest = max(max(len(r) for r in rows), 1)
    t = -(-longest // chunk) * chunk if longest > chunk else -(-longest // 32) * 32
    ids = np.full((b, t), pad_id, np.int32)
    mask = np.zeros((b, t), bool)
    for i, r in enumerate(rows):
        ids[i, t - len(r) :], mask[i, t - len(r) :] = r, True
    # Rows added by bucketing repeat the last prompt (so they are valid) and are dropped.
    ids[len(rows) :], mask[len(rows) :] = ids[len(rows) - 1], mask[len(rows) - 1]
    return ids, mask


@functools.lru_cache(maxsize=32)
def _decoded_vocab(tokenizer: Tokenizer, vocab_size: int) -> tuple[str, ...]:
    n = min(vocab_size, tokenizer.vocab_size)
    return tuple(tokenizer.tok.decode_batch([[i] for i in range(n)], skip_special_tokens=False))


def stop_token_mask(tokenizer: Tokenizer, stop: tuple[str, ...], vocab_size: int) -> np.ndarray:
    """[V] bool: tokens whose text contains a stop string. A row ends on such a token; a stop
    string spread over several tokens is still found and cut on the host."""
    texts = _decoded_vocab(tokenizer, vocab_size)
    out = np.zeros(vocab_size, bool)
    for i, text in enumerate(texts):
        out[i] = any(s in text for s in stop)
    return out


def _pick(logits, key, temperature: float, top_p: float, top_k: int):
    """Next token ids [B] from fp32 logits [B, V]."""
    if temperature == 0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    scaled = logits / temperature
    if top_k:
        kth = jax.lax.top_k(scaled, top_k)[0][:, -1:]
        scaled = jnp.where(scaled < kth, -jnp.inf, scaled)
    if top_p < 1.0:
        order = jnp.argsort(-scaled, axis=-1)
        sorted_logits = jnp.take_along_axis(scaled, order, axis=-1)
        probs = jax.nn.softmax(sorted_logits, axis=-1)
        # Keep a token if the mass before it is below top_p (the first token always stays).
        keep_sorted = (jnp.cumsum(probs, axis=-1) - probs) < top_p
        keep = jnp.zeros_like(keep_sorted).at[jnp.arange(scaled.shape[0])[:, None], order].set(keep_sorted)
        scaled = jnp.where(keep, scaled, -jnp.inf)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(scaled.shape[0]))
    return jax.vmap(jax.random.categorical)(keys, scaled).astype(jnp.int32)


@functools.partial(
    jax.jit,
    static_argnames=(
        "graphdef",
        "max_new_tokens",
        "chunk",
        "prefix_chunk",
        "temperature",
        "top_p",
        "top_k",
        "partitioning",
    ),
)
def _generate(
    graphdef, state, ids, mask, ended, seed, prefix, *, max_new_tokens, chunk, prefix_chunk, temperature,
    top_p, top_k, partitioning,
):  # fmt: skip
    with activate(partitioning):
        model: Decoder = nnx.merge(graphdef, state)
        b, t = ids.shape
        # With a shared prefix the rows' own cache holds only prompt suffix + new tokens; the
        # prefix is read in place by every step (Decoder(prefix=)), never rewritten.
        shared = None if prefix is None else _prefix_cache(model, *prefix, prefix_chunk)
        cache = KVCache.empty(model.cfg, b, t + max_new_tokens)
        cache, logits = _prefill(model, cache, ids, mask, chunk, shared)
        base = jax.random.key(seed)

        def emit(step, logits, done):
            tok = _pick(logits, jax.random.fold_in(base, step), temperature, top_p, top_k)
            lp = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), tok[:, None], axis=-1)[:, 0]
            return jnp.where(done, -1, tok), jnp.where(done, 0.0, lp)

        tokens = jnp.full((b, max_new_tokens), -1, jnp.int32)
        logprobs = jnp.zeros((b, max_new_tokens), jnp.float32)
        done = jnp.zeros((b,), bool)
        tok, lp = emit(0, logits, done)
        tokens, logprobs = tokens.at[:, 0].set(tok), logprobs.at[:, 0].set(lp)
        done = ended[tok]

        def cond(carry):
            step, _, _, _, _, done = carry
            return (step < max_new_tokens) & ~jnp.all(done)

        def body(carry):
            step, cache, tok, tokens, logprobs, done = carry
            out = model(
                jnp.maximum(tok, 0)[:, None],
                (~done)[:, None],
                cache=cache,
                prefix=shared,
                return_logits="last",
            )
            new, lp = emit(step, out.logits[:, -1], done)
            tokens = jax.lax.dynamic_update_slice(tokens, new[:, None], (0, step))
            logprobs = jax.lax.dynamic_update_slice(logprobs, lp[:, None], (0, step))
            done = done | ended[jnp.maximum(new, 0)]
            return step + 1, out.cache, new, tokens, logprobs, done

        carry = (jnp.asarray(1, jnp.int32), cache, tok, tokens, logprobs, done)
        _, _, _, tokens, logprobs, _ = jax.lax.while_loop(cond, body, carry)
        lengths = (tokens >= 0).sum(-1)
        return tokens, logprobs, lengths


def _prefill(model: Decoder, cache: KVCache, ids, mask, chunk: int, prefix: KVCache | None = None):
    """Write [B, T] tokens into the cache in chunks (attention logits stay [chunk, S] instead
    of [T, S]), after `prefix` if given; returns the cache and the last position's logits."""
    b, t = ids.shape
    n_chunks = t // chunk if t % chunk == 0 else 1
    size = t // n_chunks

    def step(cache, xs):
        tok, m = xs
        out = model(tok, m, cache=cache, prefix=prefix, return_logits="last")
        return out.cache, out.logits[:, -1]

    split = lambda a: a.reshape(b, n_chunks, size).swapaxes(0, 1)  # noqa: E731
    cache, last = jax.lax.scan(step, cache, (split(ids), split(mask)))
    return cache, last[-1]


def _prefix_cache(model: Decoder, p_ids, p_mask, which, chunk: int) -> KVCache:
    """Row r's prefix `which[r]` as a read-only cache of B rows: each distinct prefix is
    prefilled once, then gathered per row once (not per decode step)."""
    u, p = p_ids.shape
    shared, _ = _prefill(model, KVCache.empty(model.cfg, u, p), p_ids, p_mask, chunk)
    kv = lambda a: jnp.take(a, which, axis=1)  # noqa: E731  [L, U, P, K, hd] -> [L, B, P, K, hd]
    return KVCache(
        keys=kv(shared.keys),
        values=kv(shared.values),
        valid=shared.valid[which],
        positions=shared.positions[which],
        index=jnp.asarray(p, jnp.int32),
    )


def greedy_generate(
    model: Decoder,
    tokens: np.ndarray | jax.Array,
    attention_mask: np.ndarray | jax.Array,
    max_new_tokens: int,
    eos_ids: int | Sequence[int] | None = None,
    *,
    partitioning: Partitioning | None = None,
) -> np.ndarray:
    """[B, T] left-padded prompt ids -> [B, max_new_tokens] greedy ids, PAD (-1) after an EOS
    id (the EOS itself is kept). The array form of `generate_ids` for callers holding ids."""
    tokens, attention_mask = np.asarray(tokens), np.asarray(attention_mask, bool)
    rows = [list(r[m]) for r, m in zip(tokens, attention_mask, strict=True)]
    eos = () if eos_ids is None else (eos_ids,) if isinstance(eos_ids, int) else tuple(eos_ids)
    ended = _ending_tokens(model.cfg.vocab_size, eos)
    return _run(model, rows, model.cfg.pad_id, ended, max_new_tokens, GREEDY, 256, partitioning)[0]

"""Generation over many prompts: batched, grouped by shared prefix, and staged.

A batch decodes until its longest row ends, so one long answer makes fifteen short ones
wait. With `stages=(8, 16)` every row first gets at most 8 new tokens; the rows that are
still going are gathered from all batches into fresh, full batches that continue them
(prompt + tokens so far, re-prefilled) to 16, then to `max_new_tokens`. Greedy output is
the same as one pass (up to float rounding of the re-prefilled keys and values); the work
follows the answer lengths instead of the longest answer of every batch. When most rows
of a stage are still going, the next stages are skipped (re-prefilling them would cost
more than it saves).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from xling.errors import DataError
from xling.inference.generation import GREEDY, PAD, Generation, Sampling, generate_ids
from xling.models.decoder import Decoder
from xling.partitioning import Partitioning
from xling.tokenizer import Tokenizer


def generate_many(
    model: Decoder,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int = 16,
    stages: Sequence[int] = (),
    groups: Sequence[Hashable] | None = None,
    stop: Sequence[str] = (),
    eos_ids: Sequence[int] | None = None,
    sampling: Sampling = GREEDY,
    add_special_tokens: bool = True,
    prefill_chunk: int = 256,
    partitioning: Partitioning | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> Generation:
    """`generate` for any number of prompts, in the input order. groups: a key per prompt;
    prompts with one key are batched together and share their common prefill. stages:
    token budgets below max_new_tokens after which unfinished rows are regrouped (greedy
    only: a sampled row's continuation would draw other random numbers). progress: called
    with the number of rows that finished."""
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    budgets = [*sorted({int(s) for s in stages if 0 < int(s) < max_new_tokens}), max_new_tokens]
    if len(budgets) > 1 and not sampling.greedy:
        raise DataError("stages need greedy decoding (a continued sampled row would not be reproducible)")
    rows = [tokenizer.encode(p, add_special_tokens=add_special_tokens) for p in prompts]
    keys = list(range(len(rows))) if groups is None else list(groups)
    if len(keys) != len(rows):
        raise DataError(f"{len(keys)} group keys given for {len(rows)} prompts")
    first_seen: dict[Hashable, int] = {}
    for i, k in enumerate(keys):
        first_seen.setdefault(k, i)
    order = sorted(range(len(rows)), key=lambda i: (first_seen[keys[i]], i))
    eos = tuple(model.cfg.eos_ids if eos_ids is None else eos_ids)
    new_tokens: list[list[int]] = [[] for _ in rows]
    new_lp: list[list[float]] = [[] for _ in rows]
    finish = ["length"] * len(rows)
    active, done_so_far = order, 0
    for stage, budget in enumerate(budgets):
        still = []
        for start in range(0, len(active), batch_size):
            batch = active[start : start + batch_size]
            out = generate_ids(
                model, tokenizer, [rows[i] + new_tokens[i] for i in batch], max_new_tokens=budget - done_so_far,
                sampling=sampling, stop=stop, eos_ids=eos, prefill_chunk=prefill_chunk,
                partitioning=partitioning, groups=None if groups is None else [keys[i] for i in batch],
            )  # fmt: skip
            ended = 0
            for j, i in enumerate(batch):
                n = int(out.lengths[j])
                new_tokens[i] += out.tokens[j, :n].tolist()
                new_lp[i] += out.logprobs[j, :n].tolist()
                going = out.finish[j] == "length" and budget < max_new_tokens
                if going and not _stopped(tokenizer, new_tokens[i], stop):
                    still.append(i)
                else:
                    finish[i] = _finish(tokenizer, new_tokens[i], stop, eos)
                    ended += 1
            progress(ended)
        active, done_so_far = still, budget
        if not active:
            break
        if 2 * len(active) > len(rows) and stage + 1 < len(budgets) - 1:
            budgets[stage + 1 : -1] = []  # most rows go on: no more regrouping
    return _assemble(tokenizer, new_tokens, new_lp, finish, stop, max_new_tokens)


def _stopped(tokenizer, tokens: list[int], stop: Sequence[str]) -> bool:
    """A stop string can span the end of one stage and the start of the next: check the text."""
    return bool(stop) and any(s in tokenizer.decode(tokens) for s in stop)


def _finish(tokenizer, tokens: list[int], stop: Sequence[str], eos: Sequence[int]) -> str:
    if _stopped(tokenizer, tokens, stop):
        return "stop"
    return "eos" if tokens and tokens[-1] in set(eos) else "length"


def _assemble(tokenizer, new_tokens, new_lp, finish, stop, max_new_tokens: int) -> Generation:
    n = len(new_tokens)
    tokens = np.full((n, max_new_tokens), PAD, np.int32)
    logprobs = np.zeros((n, max_new_tokens), np.float32)
    texts = []
    for i, (toks, lps) in enumerate(zip(new_tokens, new_lp, strict=True)):
        tokens[i, : len(toks)], logprobs[i, : len(lps)] = toks, lps
        text = tokenizer.decode(toks)
        hits = [k for k in (text.find(s) for s in stop) if k >= 0]
        texts.append(text[: min(hits)] if hits else text)
    lengths = (tokens >= 0).sum(-1)
    return Generation(tokens=tokens, logprobs=logprobs, lengths=lengths, texts=texts, finish=finish)

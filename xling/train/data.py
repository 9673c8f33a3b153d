"""Training data: tokenised documents packed into fixed-length rows, supervised
prompt/answer rows, and a grain pipeline indexed by step.

Packing (pre-training, continued pre-training): documents (BOS + text + EOS) are laid end to
end into rows of `length` tokens, in order; a document that does not fit in what is left of
a row starts the next one, and one longer than a row is cut into row-sized pieces. Every
document is a segment of its own (the model attends within it and its positions restart), and
only targets inside a segment are scored.

`pack_dense` (a token budget to fill exactly) cuts documents at row ends instead.

Supervised rows: one prompt/answer pair per row, only the answer's tokens (and the EOS after
it) scored.

The pipeline is a `grain.MapDataset`: rows shuffled with a seed, repeated, batched to
A x B rows, so batch k is a pure function of (rows, seed, k). The data position of a run is
its step; a resumed run reads the same batches as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from xling.errors import DataError
from xling.train.loss import Batch


def tokenize_documents(tokenizer, texts: Sequence[str], *, eos: bool = True) -> list[list[int]]:
    """Each text with the tokenizer's special tokens (BOS) and, with `eos`, an EOS."""
    out = []
    for text in texts:
        ids = tokenizer.encode(text)
        if eos and tokenizer.eos_id is not None:
            ids = [*ids, tokenizer.eos_id]
        out.append(ids)
    return out


def pack(docs: Sequence[Sequence[int]], length: int, pad_id: int = 0) -> list[dict[str, np.ndarray]]:
    """Rows of tokens/targets/loss_mask/segment_ids (see the module docstring)."""
    if length < 2:
        raise DataError(f"row length must be >= 2, got {length}")
    pieces = []
    for d in docs:
        d = list(d)
        pieces += [d[i : i + length] for i in range(0, len(d), length) if len(d[i : i + length]) >= 2]
    rows, current = [], []
    for p in pieces:
        if sum(map(len, current)) + len(p) > length:
            rows.append(current)
            current = []
        current.append(p)
    if current:
        rows.append(current)
    out = []
    for row in rows:
        tokens = np.full(length, pad_id, np.int32)
        targets = np.zeros(length, np.int32)
        mask = np.zeros(length, np.float32)
        seg = np.zeros(length, np.int32)
        at = 0
        for k, p in enumerate(row, 1):
            n = len(p)
            tokens[at : at + n], seg[at : at + n] = p, k
            targets[at : at + n - 1], mask[at : at + n - 1] = p[1:], 1.0
            at += n
        out.append({"tokens": tokens, "targets": targets, "loss_mask": mask, "segment_ids": seg})
    return out


def pack_dense(docs: Sequence[Sequence[int]], length: int, pad_id: int = 0) -> list[dict[str, np.ndarray]]:
    """Rows with no padding (pre-training on a token budget): the documents laid end to end
    and cut every `length` tokens; a document cut at a row's end goes on at the next row's
    start as a new segment (positions restart there). Only a last, short row is padded."""
    if length < 2:
        raise DataError(f"row length must be >= 2, got {length}")
    stream = np.fromiter((t for d in docs for t in d), np.int32)
    seg_of = np.repeat(np.arange(1, len(docs) + 1, dtype=np.int32), [len(d) for d in docs])
    out = []
    for at in range(0, len(stream), length):
        toks, seg = stream[at : at + length], seg_of[at : at + length]
        n = len(toks)
        seg = seg - seg[0] + 1  # segment ids restart in each row
        tokens = np.full(length, pad_id, np.int32)
        segments = np.zeros(length, np.int32)
        tokens[:n], segments[:n] = toks, seg
        targets = np.zeros(length, np.int32)
        targets[: n - 1] = toks[1:]
        mask = np.zeros(length, np.float32)
        mask[: n - 1] = (seg[1:] == seg[:-1]).astype(np.float32)  # the next token is in the segment
        out.append({"tokens": tokens, "targets": targets, "loss_mask": mask, "segment_ids": segments})
    return out


def supervised_rows(tokenizer, pairs: Sequence[tuple[str, str]], length: int, *,
                    add_special_tokens: bool = True) -> list[dict[str, np.ndarray]]:  # fmt: skip
    """One row per (prompt, answer): prompt tokens as the tokenizer encodes them (a chat
    prompt carries its own BOS: `add_special_tokens=False`), then the answer's tokens and
    EOS, scored; an example longer than `length` is an error."""
    rows = []
    for i, (prompt, answer) in enumerate(pairs):
        p = tokenizer.encode(prompt, add_special_tokens=add_special_tokens)
        a = tokenizer.encode(answer, add_special_tokens=False)
        if tokenizer.eos_id is not None:
            a = [*a, tokenizer.eos_id]
        if len(p) + len(a) > length:
            raise DataError(f"example {i}: {len(p) + len(a)} tokens do not fit rows of {length}")
        b = Batch.from_rows([p + a], length, tokenizer.pad_id, prompt_lengths=[len(p)])
        rows.append(
            {k: np.asarray(getattr(b, k))[0] for k in ("tokens", "targets", "loss_mask", "segment_ids")}
        )
    return rows


def batches(rows: Sequence[dict], *, batch_size: int, accumulation: int = 1, seed: int = 0,
            shuffle: bool = True) -> Callable[[int], Batch]:  # fmt: skip
    """step -> Batch of [accumulation, batch_size, T], from a seeded, repeated grain pipeline."""
    import grain

    per_step = batch_size * accumulation
    if len(rows) < per_step:
        raise DataError(
            f"the dataset has {len(rows)} rows, fewer than one step's {per_step} ({accumulation} x {batch_size})"
        )
    ds = grain.MapDataset.source(list(rows))
    if shuffle:
        ds = ds.shuffle(seed=seed)
    ds = ds.repeat(None).batch(per_step, drop_remainder=True)

    def get(step: int) -> Batch:
        b = ds[step]
        return Batch(*(np.asarray(b[k]).reshape(accumulation, batch_size, -1)
                       for k in ("tokens", "targets", "loss_mask", "segment_ids")))  # fmt: skip

    return get

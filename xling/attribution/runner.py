"""Relevance of xMRC examples: one record per (example, target) with the per-token analysis
of `xling.attribution.mechanism`.

Targets:
- "first_token": the logit of the answer's first generated token at the prompt's last
  position (the greedy choice, re-derived as the top token, so it is the token the xMRC run
  generated first).
- "gold": the teacher-forced gold answer (the first gold answer, after the same leading
  whitespace the model's generation had): the sum of its tokens' log-probabilities.
Relevance is measured for the prompt's tokens; for "gold", the forced answer tokens' share is
kept as `forced_share` and left out of the groups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from xling.attribution import mechanism as mech
from xling.attribution.relevance import relevance
from xling.errors import DataError
from xling.inference.scoring import bucket
from xling.metrics.qa import best_scores

TARGETS = ("first_token", "gold")


@dataclasses.dataclass(frozen=True)
class AttributionSpec:
    target: str = "first_token"
    rules: str = "attnlrp"
    fraction: float = 0.95  # MRD
    oracle_layer: int = 0  # the layer whose token relevance picks the oracle span
    batch_size: int = 4
    remat: str = "full"  # per-layer rematerialisation of the backward pass: full, dots, none

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise DataError(f"unknown attribution target {self.target!r} (known: {', '.join(TARGETS)})")
        if self.batch_size < 1:
            raise DataError(f"attribution batch_size must be >= 1, got {self.batch_size}")


@dataclasses.dataclass
class _Item:
    record: dict
    ids: list[int]  # prompt (+ forced answer) tokens
    offsets: list[tuple[int, int]]
    layout: mech.PromptLayout
    prompt_len: int
    targets: list[tuple[int, int]]  # (position, id) in the unpadded row; id -1 = top token


def prepare(tokenizer, record: dict, target: str) -> _Item:
    """Tokens, offsets and targets of one xMRC record (prompt tokenised as the run did)."""
    fmt = record["template"]["format"]
    ids, offsets = tokenizer.encode_with_offsets(record["prompt"], add_special_tokens=fmt == "plain")
    layout = mech.PromptLayout.from_record(
        record["prompt"],
        record["context"],
        record["question"],
        record["context_offset"],
        record["gold_spans"][0],
    )
    n = len(ids)
    if target == "first_token":
        return _Item(record, ids, offsets, layout, n, [(n - 1, -1)])
    gen = record.get("generation", "")
    lead = gen[: len(gen) - len(gen.lstrip())] if gen.strip() else ""
    answer = tokenizer.encode(lead + record["gold_answers"][0], add_special_tokens=False)
    if not answer:
        raise DataError(f"{record['id']}: the gold answer has no tokens")
    full = ids + answer
    return _Item(record, full, offsets, layout, n, [(n - 1 + k, full[n + k]) for k in range(len(answer))])


def analyse(item: _Item, rel: np.ndarray, value: float, explained: float, top: int, spec, lang: str) -> dict:
    """The record of one example from its relevance [L + 1, len(item.ids)]."""
    r = item.record
    prompt_rel = rel[:, : item.prompt_len]
    groups = mech.token_groups(item.offsets, item.layout)
    mrd = mech.major_relevance_depth(prompt_rel, spec.fraction)
    medians = mech.group_medians(mrd, groups)
    abs_total = float(np.abs(rel).sum())
    s, e = mech.oracle_span(prompt_rel[spec.oracle_layer], item.offsets, groups, item.layout)
    oracle = r["context"][s:e].strip()
    o_em, o_f1 = best_scores(oracle, r["gold_answers"], lang)
    return {
        "model": r["model"],
        "setting": r["setting"],
        "context_lang": r["context_lang"],
        "question_lang": r["question_lang"],
        "id": r["id"],
        "target": spec.target,
        "target_ids": [int(top)] if spec.target == "first_token" else [t for _, t in item.targets],
        "value": round(float(value), 6),
        "explained": round(float(explained), 6),
        "layer_totals": [round(float(x), 6) for x in rel.sum(-1)],
        "forced_share": round(float(np.abs(rel[:, item.prompt_len :]).sum() / max(abs_total, 1e-30)), 6),
        "groups": groups.tolist(),
        "mrd": mrd.tolist(),
        "token_relevance": [round(float(x), 6) for x in prompt_rel[spec.oracle_layer]],
        "group_layer_abs": [
            [round(float(x), 6) for x in np.abs(prompt_rel[:, groups == g]).sum(-1)]
            for g in range(len(mech.GROUPS))
        ],
        "medians": medians,
        "phased": mech.phased(medians),
        "oracle": {"answer": oracle, "span": [s, e], "em": o_em, "f1": o_f1},
        "generated": {"answer": r["answer"], "em": r["em"], "f1": r["f1"]},
        "gold_answers": r["gold_answers"],
    }


def run_unit(
    rt, records: Sequence[dict], spec: AttributionSpec, progress: Callable[[int], None] = lambda n: None
) -> list[dict]:
    """Relevance records for xMRC records of one model, batched by length."""
    items = [prepare(rt.tokenizer, r, spec.target) for r in records]
    order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
    out: list[dict | None] = [None] * len(items)
    pad = rt.tokenizer.pad_id
    for start in range(0, len(order), spec.batch_size):
        batch = [items[i] for i in order[start : start + spec.batch_size]]
        rows = batch + [batch[-1]] * (spec.batch_size - len(batch))  # one shape for every batch
        width = bucket(max(len(b.ids) for b in rows), 32)  # few shapes, few compilations
        s = max(len(b.targets) for b in rows)
        tokens = np.full((len(rows), width), pad, np.int32)
        mask = np.zeros((len(rows), width), bool)
        pos = np.full((len(rows), s), -1, np.int32)
        ids = np.zeros((len(rows), s), np.int32)
        for j, b in enumerate(rows):
            off = width - len(b.ids)
            tokens[j, off:], mask[j, off:] = b.ids, True
            for k, (p, t) in enumerate(b.targets):
                pos[j, k], ids[j, k] = p + off, t
        kind = "logit" if spec.target == "first_token" else "logprob"
        res = relevance(rt.model, tokens, mask, pos, ids, kind=kind, rules=spec.rules, remat=spec.remat,
                        partitioning=rt.partitioning)  # fmt: skip
        rel = np.asarray(res.relevance)
        for j, b in enumerate(batch):
            off = width - len(b.ids)
            lang = b.record["context_lang"]
            out[order[start + j]] = analyse(
                b, rel[:, j, off:], res.value[j], res.explained[j], res.ids[j, 0], spec, lang
            )
        progress(len(batch))
    return out  # type: ignore[return-value]

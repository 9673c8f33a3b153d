"""One language pair of the word-translation experiment: prompts, lens trace, greedy answer,
CLWTD score and behaviour, one JSON-ready record per concept."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from xling.data.lexicon import Concept, Lexicon
from xling.errors import DataError
from xling.inference.generation import greedy_generate
from xling.inference.scoring import mean_nll_groups
from xling.lens import logit_lens, tokenizer_kind, word_token_set
from xling.metrics.answers import cut_continuation, is_correct
from xling.models.decoder import Decoder
from xling.partitioning import Partitioning
from xling.tokenizer import Tokenizer
from xling.tracing import behaviour as bh
from xling.tracing.prompts import PromptSpec, answer_text, clwtd_prompt, demo_sets, distractors, trace_prompt


@dataclasses.dataclass(frozen=True)
class TraceSpec:
    pivot: str = "en"  # a language code, or "any": every lexicon language but source and target
    rule: str = "primary"  # behaviour rule: "primary" or "threshold" (docs/METHODS.md §1)
    threshold: float = 0.1
    first_layer: int = 1  # layers below are ignored by the rules (layer 0 = embeddings)
    word_tokens_only: bool = True  # rules ignore top-1 tokens without a letter (quotes, spaces, bytes)
    num_distractors: int = 9
    max_new_tokens: int = 8
    batch_size: int = 8
    score: bool = True

    def __post_init__(self) -> None:
        if self.rule not in bh.RULES:
            raise DataError(f"trace.rule {self.rule!r} is not one of {', '.join(bh.RULES)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise DataError(f"trace.threshold must be in [0, 1], got {self.threshold!r}")
        for name, low in (
            ("first_layer", 0),
            ("num_distractors", 1),
            ("max_new_tokens", 1),
            ("batch_size", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DataError(f"trace.{name} must be an integer >= {low}, got {value!r}")


def _union_set(tokenizer: Tokenizer, words: Sequence[str], kind) -> tuple[list[int], str]:
    ids, errors = set(), []
    for w in words:
        try:
            ids.update(word_token_set(tokenizer, w, kind).ids)
        except ValueError as e:
            errors.append(str(e))
    return sorted(ids), ("" if ids else "; ".join(errors) or "no words")


def _pivot_words(concept: Concept, pivot: str, src: str, tgt: str, languages: Sequence[str]) -> list[str]:
    if pivot == "any":
        return [
            w
            for lang in languages
            if lang not in (src, tgt) and concept.has(lang)
            for w in concept.accepted(lang)
        ]
    if pivot in (src, tgt) or not concept.has(pivot):
        return []
    return list(concept.accepted(pivot))


def clwtd_scores(
    model: Decoder,
    tokenizer: Tokenizer,
    pool: Sequence[Concept],
    concepts: Sequence[Concept],
    src: str,
    tgt: str,
    prompts: PromptSpec,
    num_distractors: int,
    *,
    partitioning: Partitioning | None = None,
) -> list[dict[str, float]]:
    """Score(w) = P(y|w) - mean P(y|w') over distractor source words w' (He et al. 2025), with
    P = exp(-NLL of all answer tokens), the NLL averaged over the demonstration sets.
    One scoring call per demonstration set covers every concept."""
    groups_by_set: list[list[tuple[list[str], list[str]]]] = [[] for _ in range(prompts.num_demo_sets)]
    for c in concepts:
        words = [c.word(src)] + [
            d.word(src) for d in distractors(pool, c, src, num_distractors, prompts.seed, tgt)
        ]
        answer = answer_text(c.word(tgt), "clwtd")
        for d, demos in enumerate(demo_sets(pool, c, prompts, src, tgt)):
            groups_by_set[d].append(
                ([clwtd_prompt(demos, w, src, tgt, prompts.names) for w in words], [answer] * len(words))
            )
    per_set = [
        mean_nll_groups(model, tokenizer, groups, partitioning=partitioning) for groups in groups_by_set
    ]
    out = []
    for i in range(len(concepts)):
        nll = np.stack([per_set[d][i] for d in range(len(per_set))])
        p = np.exp(-nll.mean(0))
        out.append(
            {
                "score": float(p[0] - p[1:].mean()),
                "p_answer": float(p[0]),
                "p_distractors": float(p[1:].mean()),
            }
        )
    return out


def run_pair(
    model: Decoder,
    tokenizer: Tokenizer,
    lexicon: Lexicon,
    src: str,
    tgt: str,
    concepts: Sequence[Concept],
    prompts: PromptSpec,
    trace: TraceSpec,
    progress: Callable[[int], None] = lambda n: None,
    lens=None,
    *,
    partitioning: Partitioning | None = None,
) -> list[dict]:
    """Records for `concepts` translated src -> tgt; `lexicon` supplies demos and distractors.
    lens: a tuned lens to read the layers through (default: the logit lens).
    partitioning: the mesh and rules of a sharded model (see `xling.runtime`)."""
    pool = lexicon.pairs(src, tgt).concepts
    kind = tokenizer_kind(tokenizer)
    records = []
    for start in range(0, len(concepts), trace.batch_size):
        batch = list(concepts[start : start + trace.batch_size])
        records += _run_batch(
            model, tokenizer, lexicon, pool, batch, src, tgt, prompts, trace, kind, lens, partitioning
        )
        progress(len(batch))
    return records


def _run_batch(
    model, tokenizer, lexicon, pool, batch, src, tgt, prompts, trace, kind, tuned=None, partitioning=None
) -> list[dict]:
    texts, sets, info = [], {"src": [], "tgt": [], "pivot": []}, []
    for c in batch:
        demos = demo_sets(pool, c, prompts, src, tgt)[0]
        texts.append(trace_prompt(demos, c.word(src), src, tgt, prompts))
        src_ids, src_err = _union_set(tokenizer, [c.word(src)], kind)
        tgt_ids, tgt_err = _union_set(tokenizer, c.accepted(tgt), kind)
        pivot_words = _pivot_words(c, trace.pivot, src, tgt, lexicon.languages)
        pivot_ids = _union_set(tokenizer, pivot_words, kind)[0] if pivot_words else []
        src_tokens = [
            tokenizer.id_to_token(i) for i in tokenizer.encode(answer_text(c.word(src), prompts.style), False)
        ]
        tgt_tokens = [
            tokenizer.id_to_token(i) for i in tokenizer.encode(answer_text(c.word(tgt), prompts.style), False)
        ]
        for name, ids in (("src", src_ids), ("tgt", tgt_ids), ("pivot", pivot_ids)):
            sets[name].append(ids or [0])  # a placeholder id keeps shapes; its mass is discarded below
        info.append(
            {
                "src_set": src_ids,
                "tgt_set": tgt_ids,
                "pivot_set": pivot_ids,
                "pivot_words": pivot_words,
                "src_tokens": src_tokens,
                "tgt_tokens": tgt_tokens,
                "reason": bh.exclusion_reason(src_tokens, tgt_tokens, src_err, tgt_err),
            }
        )
    ids, mask = tokenizer.batch(texts)
    width = -(-ids.shape[1] // 16) * 16  # left-pad to a bucket: fewer compilations
    ids = np.pad(ids, ((0, 0), (width - ids.shape[1], 0)), constant_values=tokenizer.pad_id)
    mask = np.pad(mask, ((0, 0), (width - mask.shape[1], 0)))
    lens = logit_lens(model, ids, mask, k=1, token_sets=sets, lens=tuned, partitioning=partitioning)
    generated = greedy_generate(
        model, ids, mask, trace.max_new_tokens, model.cfg.eos_ids, partitioning=partitioning
    )
    nan = {"score": math.nan, "p_answer": math.nan, "p_distractors": math.nan}
    scores = (
        clwtd_scores(
            model, tokenizer, pool, batch, src, tgt, prompts, trace.num_distractors, partitioning=partitioning
        )
        if trace.score
        else [nan] * len(batch)
    )
    out = []
    for i, (c, text) in enumerate(zip(batch, texts, strict=True)):
        meta = info[i]
        top1_ids, top1_probs = lens.topk_ids[:, i, 0, 0], lens.topk_probs[:, i, 0, 0]
        mass = lens.set_mass[:, i, 0]  # [L+1, 3]
        layers = [
            {
                "layer": layer,
                "top1_id": int(top1_ids[layer]),
                "top1": tokenizer.id_to_token(int(top1_ids[layer])),
                "top1_prob": float(top1_probs[layer]),
                "p_src": float(mass[layer, 0]) if meta["src_set"] else None,
                "p_tgt": float(mass[layer, 1]) if meta["tgt_set"] else None,
                "p_pivot": float(mass[layer, 2]) if meta["pivot_set"] else None,
                "entropy": float(lens.entropy[layer, i, 0]),
            }
            for layer in range(lens.entropy.shape[0])
        ]
        eligible = [bh.word_like(row["top1"]) for row in layers] if trace.word_tokens_only else None
        kw = {
            "threshold": trace.threshold,
            "first_layer": trace.first_layer,
            "eligible": eligible,
            "excluded_reason": meta["reason"],
        }
        behaviours = {
            rule: bh.classify(
                top1_ids, top1_probs, set(meta["src_set"]), set(meta["tgt_set"]), rule=rule, **kw
            )
            for rule in bh.RULES
        }
        prediction = _prediction(tokenizer, generated[i], prompts.style)
        record = {
            "src_lang": src,
            "tgt_lang": tgt,
            "concept": c.id,
            "pos": c.pos,
            "src": c.word(src),
            "tgt": c.word(tgt),
            "accepted": list(c.accepted(tgt)),
            "prompt": text,
            "prediction": prediction,
            "correct": is_correct(prediction, c.accepted(tgt)),
            "behaviour": behaviours[trace.rule],
            "behaviours": behaviours,
            "excluded_reason": meta["reason"],
            "src_tokens": meta["src_tokens"],
            "tgt_tokens": meta["tgt_tokens"],
            "pivot_words": meta["pivot_words"],
        }
        record.update(scores[i])
        record["layers"] = layers
        out.append(record)
    return out


def _prediction(tokenizer: Tokenizer, ids: np.ndarray, style: str) -> str:
    text = tokenizer.decode([int(i) for i in ids if i >= 0])  # PAD (-1) after the end
    if style == "clwtd":
        text = text.lstrip(" ")
    return cut_continuation(text).strip()


def check_pair(lexicon: Lexicon, src: str, tgt: str) -> None:
    """A clear error when the lexicon cannot serve this pair."""
    for lang in (src, tgt):
        if lang not in lexicon.languages:
            raise DataError(
                f"lexicon {lexicon.name!r} has no words in {lang!r} (it has {', '.join(lexicon.languages)})"
            )
    if src == tgt:
        raise DataError(f"pair {src}-{tgt}: source and target language are the same")

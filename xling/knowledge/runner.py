"""One knowledge-barrier unit: every item of one (model, variant, shots, demos, mitigation,
option ids), scored by the answer-letter logits or, for translate-then-answer, generated
and parsed.

Letter scoring reads the last position's logits at the four letter tokens, softmax over the
four, argmax (the reference's rule). Questions of one subject share the header and the
demonstrations, prefilled once per subject (`choice_logits`).

Cloze scoring (not the reference's; OLMES's "cloze formulation", Gu et al. 2024) shows the
question without options and scores each option's text as the continuation of "Answer:", by
its log-likelihood per character (OLMES's normalisation), argmax. Models below about a billion
parameters answer the lettered format at chance, with a strong letter bias, while cloze
scoring still reads their knowledge; records keep the four option texts (`options`) and
scores (`option_scores`), and no `letter_probs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from xling.errors import DataError
from xling.inference.batching import generate_many
from xling.inference.scoring import choice_logits, continuation_logprobs
from xling.knowledge.answers import parse_choice
from xling.knowledge.prompts import build_cloze_prompt, build_prompt, format_item, header, letter_tokens
from xling.knowledge.variants import VariantItem
from xling.runtime import Runtime

SCORINGS = ("letter", "cloze")


@dataclasses.dataclass(frozen=True)
class UnitSpec:
    variant: str
    shots: int = 0
    demos: str = "en"  # "en": English demonstrations; "same": the same variant built on the dev split
    mitigation: str = "none"  # none, instruct0, instruct1, translate (generated, parsed)
    option_ids: str = "ABCD"
    letter_token: str = "reference"
    max_new_tokens: int = 256  # translate-then-answer only
    batch_size: int = 16
    scoring: str = "letter"  # "letter" (the reference) or "cloze" (option texts; not with translate)

    def __post_init__(self) -> None:
        if self.shots < 0:
            raise DataError(f"shots must be >= 0, got {self.shots}")
        if self.demos not in ("en", "same"):
            raise DataError(f"demos must be 'en' or 'same', got {self.demos!r}")
        if self.scoring not in SCORINGS:
            raise DataError(f"scoring must be one of {', '.join(SCORINGS)}, got {self.scoring!r}")
        if self.scoring == "cloze" and self.mitigation == "translate":
            raise DataError("translate-then-answer is generated and parsed; cloze scoring does not apply")
        if len(self.option_ids) != 4 or len(set(self.option_ids)) != 4:
            raise DataError(f"option_ids must be 4 distinct characters, got {self.option_ids!r}")

    @property
    def name(self) -> str:
        ids = "cloze" if self.scoring == "cloze" else self.option_ids
        return f"{self.variant}__{self.shots}shot-{self.demos}__{self.mitigation}__{ids}"


def _lang_of(variant: str) -> str:
    return variant.rpartition("_")[2] if "_" in variant else variant  # "en", "mixup" or L


def run_unit(
    rt: Runtime,
    model_name: str,
    spec: UnitSpec,
    test: Mapping[str, Sequence[VariantItem]],
    demos: Mapping[str, Sequence[VariantItem]],
    options_by_lang: Mapping[str, Mapping[str, Sequence[tuple[str, ...]]]] | None = None,
    english_demos: Mapping[str, Sequence[VariantItem]] | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> list[dict]:
    """Records of one unit. test/demos: {subject: items}. Translate-then-answer also takes
    the English demonstrations (shown translated) and `options_by_lang` ({lang: {subject:
    [four options per row]}}) for the answer parser."""
    subjects = sorted(test)
    base = {"model": model_name, "variant": spec.variant, "lang": _lang_of(spec.variant), "shots": spec.shots,
            "demos": spec.demos, "mitigation": spec.mitigation, "option_ids": spec.option_ids,
            "scoring": spec.scoring}  # fmt: skip
    if spec.scoring == "cloze":
        return _cloze(rt, spec, test, demos, base, progress)
    prompts = {
        s: [
            build_prompt(item, demos.get(s, [])[: spec.shots], spec.mitigation, spec.option_ids)
            for item in test[s]
        ]
        for s in subjects
    }
    if spec.mitigation == "translate":
        return _translate_then_answer(
            rt, spec, test, demos, english_demos or {}, options_by_lang or {}, base, progress
        )
    letters = letter_tokens(rt.tokenizer, spec.option_ids, spec.letter_token)
    logits = choice_logits(
        rt.model, rt.tokenizer, [prompts[s] for s in subjects], letters.ids, partitioning=rt.partitioning
    )
    records = []
    for s, group in zip(subjects, logits, strict=True):
        probs = _softmax(np.asarray(group, np.float64))
        for item, prompt, p in zip(test[s], prompts[s], probs, strict=True):
            scores = {"letter_probs": [round(float(x), 6) for x in p], "letter_tokens": list(letters.pieces)}
            records.append(_scored(base, s, item, prompt, "ABCD"[int(np.argmax(p))], scores))
        progress(len(test[s]))
    return records


def _scored(base: dict, subject: str, item: VariantItem, prompt: str, pred: str, scores: dict) -> dict:
    """The record of one scored item (letter or cloze: `scores` holds the method's fields)."""
    return base | {"subject": subject, "id": item.id, "prompt": prompt, "langs": list(item.langs), **scores,
                   "pred": pred, "answer": item.answer, "correct": pred == item.answer}  # fmt: skip


def _cloze(rt, spec: UnitSpec, test, demos, base: dict, progress) -> list[dict]:
    """Cloze scoring, four continuations per item. With demonstrations, one prompt group per
    subject (the shared prefix: header and demos, prefilled once); without, one group per
    item (the shared prefix: header and question, so each row runs only its option)."""
    subjects = sorted(test)
    groups, prompts = [], {}
    for s in subjects:
        prompts[s] = [
            build_cloze_prompt(item, demos.get(s, [])[: spec.shots], spec.mitigation) for item in test[s]
        ]
        items = [(p, [" " + c for c in item.choices]) for p, item in zip(prompts[s], test[s], strict=True)]
        if spec.shots:
            groups.append(([p for p, _ in items for _ in range(4)], [c for _, cs in items for c in cs]))
        else:
            groups += [([p] * 4, cs) for p, cs in items]
    scored = continuation_logprobs(rt.model, rt.tokenizer, groups, partitioning=rt.partitioning)
    if not spec.shots:  # back to one list of 4 * n rows per subject
        it = iter(scored)
        scored = [[row for _ in test[s] for row in next(it)] for s in subjects]
    records = []
    for s, rows in zip(subjects, scored, strict=True):
        for k, (item, prompt) in enumerate(zip(test[s], prompts[s], strict=True)):
            scores = [float(rows[4 * k + j].sum()) / max(len(item.choices[j]) + 1, 1) for j in range(4)]
            # options: the scored texts (each after "Answer:" and a space)
            fields = {
                "letter_probs": None,
                "options": list(item.choices),
                "option_scores": [round(x, 6) for x in scores],
            }
            records.append(_scored(base, s, item, prompt, "ABCD"[int(np.argmax(scores))], fields))
        progress(len(test[s]))
    return records


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def tta_prompt(item: VariantItem, demos: Sequence[tuple[VariantItem, VariantItem]], ids: str) -> str:
    """Translate-then-answer, after the reference's `MMLUEnTransInstructProcessor`: each demo
    is the mixed item, the instruction, then its English version with the answer; the test
    item ends where the model starts writing the English question."""

    def block(mixed: VariantItem) -> str:
        return (
            "Question: "
            + format_item(mixed, ids)[: -len("\nAnswer:")]
            + "\nAnswer: \n"
            + TTA_LINE
            + "Question: "
        )

    text = header(item.subject, "translate")
    for mixed, english in demos:
        text += block(mixed) + format_item(english, ids, answer=True)
    return text + block(item)


TTA_LINE = "Translate the question and options into English, and then answer.\n"


def _translate_then_answer(rt, spec, test, demos, english_demos, options_by_lang, base, progress):
    subjects = sorted(test)
    items = [(s, item) for s in subjects for item in test[s]]
    prompts = []
    for s, item in items:
        pairs = list(zip(demos.get(s, [])[: spec.shots], english_demos.get(s, [])[: spec.shots], strict=True))
        prompts.append(tta_prompt(item, pairs, spec.option_ids))
    # Greedy (the reference samples with no seed); a demo block ends at a blank line.
    out = generate_many(
        rt.model, rt.tokenizer, prompts, max_new_tokens=spec.max_new_tokens, batch_size=spec.batch_size,
        stop=("\n\n",), partitioning=rt.partitioning, progress=progress,
    )  # fmt: skip
    records = []
    for (s, item), prompt, text in zip(items, prompts, out.texts, strict=True):
        row = next(k for k, it in enumerate(test[s]) if it.id == item.id)
        options = {lang: by_subject[s][row] for lang, by_subject in options_by_lang.items()}
        got, rule = parse_choice(text, options, spec.option_ids)
        pred = None if got is None else "ABCD"[spec.option_ids.index(got)]
        records.append(
            base
            | {
                "subject": s,
                "id": item.id,
                "prompt": prompt,
                "langs": list(item.langs),
                "generation": text,
                "parsed_by": rule,
                "letter_probs": None,
                "pred": pred,
                "answer": item.answer,
                "correct": pred == item.answer,
            }
        )
    return records

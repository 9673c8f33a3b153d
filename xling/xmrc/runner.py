"""One xMRC unit: every example of one (model, setting), generated, cleaned and scored.

Examples about the same context are batched together and share the context's prefill
(`generate(..., groups=)`); records come back in the data's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from xling.errors import DataError
from xling.inference.batching import generate_many
from xling.metrics.answer_errors import classify_error
from xling.metrics.qa import best_scores, clean_answer
from xling.runtime import Runtime
from xling.xmrc.prompts import PromptSpec, build_prompt
from xling.xmrc.settings import PairExample


@dataclasses.dataclass(frozen=True)
class GenerationSpec:
    max_new_tokens: int = 32
    batch_size: int = 16
    stop: tuple[str, ...] = ("\n",)  # plus the model's end-of-turn / EOS ids
    share_prefix: bool = True  # prefill each context once for all its questions
    stages: tuple[int, ...] = (8, 16)  # regroup unfinished rows after these many tokens (greedy)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise DataError("generation.max_new_tokens and generation.batch_size must be >= 1")


def answer_span(answer: str, context: str) -> list[int] | None:
    """[start, end) of the answer in the context: verbatim, else ignoring case (when lower-
    casing keeps lengths); None when absent or empty."""
    if not answer:
        return None
    at = context.find(answer)
    if at < 0 and len(context.lower()) == len(context) and len(answer.lower()) == len(answer):
        at = context.lower().find(answer.lower())
    return None if at < 0 else [at, at + len(answer)]


def score(example: PairExample, generation: str, candidates: Sequence[str]) -> dict:
    """The scored fields of one generated answer; EM/F1 against the gold in the context's language."""
    answer = clean_answer(generation)
    golds = [a.text for a in example.answers]
    em, f1 = best_scores(answer, golds, example.context_lang)
    error = None
    if not em:
        error = classify_error(answer, example.context_lang, context=example.context, candidates=candidates)
    return {
        "answer": answer,
        "gold_answers": golds,
        "gold_spans": [[a.start, a.end] for a in example.answers],
        "em": em,
        "f1": f1,
        "error_class": error,
        "answer_span": answer_span(answer, example.context),
    }


def run_unit(
    rt: Runtime,
    model_name: str,
    setting: str,
    fmt: str,
    prompts: PromptSpec,
    examples: Sequence[PairExample],
    gen: GenerationSpec,
    candidates: Sequence[str],
    progress: Callable[[int], None] = lambda n: None,
) -> list[dict]:
    """The records of one unit, in the order of `examples`."""
    tok = rt.tokenizer
    built = [build_prompt(prompts, fmt, tok, e.context, e.question, model_name) for e in examples]
    template = prompts.template(fmt)
    # Questions about one context run together and share its prefill; rows still going after
    # each of `stages` tokens are regrouped, so short answers do not wait for long ones.
    out = generate_many(
        rt.model,
        tok,
        [b[0] for b in built],
        max_new_tokens=gen.max_new_tokens,
        batch_size=gen.batch_size,
        stages=gen.stages,
        groups=[e.context for e in examples] if gen.share_prefix else None,
        stop=gen.stop,
        # A chat template writes its own BOS where it wants one, as transformers assumes.
        add_special_tokens=fmt == "plain",
        partitioning=rt.partitioning,
        progress=progress,
    )
    outputs = {i: (out.texts[i], out.finish[i], int(out.lengths[i])) for i in range(len(examples))}
    records = []
    for i, e in enumerate(examples):
        text, finish, n_new = outputs[i]
        prompt, offset = built[i]
        records.append(
            {
                "model": model_name,
                "setting": setting,
                "context_lang": e.context_lang,
                "question_lang": e.question_lang,
                "id": e.id,
                "title": e.title,
                "context": e.context,
                "question": e.question,
                "prompt": prompt,
                "context_offset": offset,
                "template": template,
                "generation": text,
                "finish": finish,
                "new_tokens": n_new,
                **score(e, text, candidates),
            }
        )
    return records

"""Fictitious-people QA (TOFU-style, Maini et al. 2024; the domain-knowledge test of Chua et
al. 2025): training text from the English biographies and QA pairs, and a multiple-choice
test of every fact asked in every language.

The test is scored as cloze multiple choice (like the knowledge-barrier cloze scoring): the
prompt is `Question: {question}\\nAnswer:`, and each of four candidate answers (the gold
answer and three distractors, all in the question's language) is scored as the
continuation, by log-likelihood per character; argmax. Distractors are other people's
answers of the same kind (the same fact slot for the four slots every person shares: birth
year, birthplace, profession, city; otherwise another answer that is also a number, or also
not a number), drawn with `numpy.random.default_rng([seed, fact index])`, so a fact has the
same distractors, translated, in every language, and the languages differ only in the
language. Chance is 25%. A likelihood test is used rather than generation because a model of
a few hundred million parameters that has read a fact a few times often ranks it first long
before it generates it verbatim (TOFU's truth ratio rests on the same observation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from xling.data.people import Person
from xling.errors import DataError
from xling.inference.scoring import continuation_logprobs

SHARED_SLOTS = 4  # facts 1-4 ask the same thing of everyone (see the data README)
PROMPT = "Question: {question}\nAnswer:"


@dataclasses.dataclass(frozen=True)
class QAItem:
    id: str  # the fact id, e.g. "fp01-3"
    lang: str
    question: str
    choices: tuple[str, ...]  # four answers in `lang`
    answer: int  # index of the gold answer in `choices`


def _kind(slot: int, answer: str) -> str:
    if slot < SHARED_SLOTS:
        return f"slot{slot}"
    return "number" if answer.replace(",", "").isdigit() else "text"


def qa_items(people: Sequence[Person], langs: Sequence[str], seed: int = 0) -> dict[str, list[QAItem]]:
    """{lang: items}: every fact of every person, in each language, with the same distractors."""
    facts = [(p, k, f) for p in people for k, f in enumerate(p.facts)]
    pools: dict[str, list[int]] = {}
    for i, (_, k, f) in enumerate(facts):
        pools.setdefault(_kind(k, f.answer["en"]), []).append(i)
    out: dict[str, list[QAItem]] = {lang: [] for lang in langs}
    for i, (person, k, fact) in enumerate(facts):
        pool = [
            j for j in pools[_kind(k, fact.answer["en"])]
            if facts[j][0].id != person.id and facts[j][2].answer["en"] != fact.answer["en"]
        ]  # fmt: skip
        if len(pool) < 3:
            raise DataError(f"fact {fact.id}: fewer than 3 distractors of its kind in the set")
        rng = np.random.default_rng([seed, i])
        picks = [int(j) for j in rng.choice(pool, 3, replace=False)]
        slot = int(rng.integers(4))  # where the gold answer goes
        order = [*picks[:slot], i, *picks[slot:]]
        for lang in langs:
            choices = tuple(facts[j][2].answer[lang] for j in order)
            out[lang].append(QAItem(fact.id, lang, fact.question[lang], choices, slot))
    return out


def training_texts(
    people: Sequence[Person], lang: str = "en", parts: Sequence[str] = ("biography", "qa")
) -> list[str]:
    """One document per biography and one per QA pair (in the test's prompt format, with the
    answer), in `lang`: what the model learns the facts from."""
    unknown = sorted(set(parts) - {"biography", "qa"})
    if unknown or not parts:
        raise DataError(f"training parts must be some of biography, qa; got {list(parts)}")
    texts = []
    for p in people:
        if "biography" in parts:
            texts.append(p.biography[lang])
        if "qa" in parts:
            texts += [PROMPT.format(question=f.question[lang]) + " " + f.answer[lang] for f in p.facts]
    return texts


def score_items(
    model, tokenizer, items: Sequence[QAItem], *, partitioning=None, batch: int = 64,
    progress: Callable[[int], None] = lambda n: None,
) -> list[dict]:  # fmt: skip
    """One record per item: the four scores, the prediction and whether it is right."""
    records = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        groups = [([PROMPT.format(question=it.question)] * 4, [" " + c for c in it.choices]) for it in chunk]
        scored = continuation_logprobs(model, tokenizer, groups, partitioning=partitioning)
        for it, rows in zip(chunk, scored, strict=True):
            scores = [float(r.sum()) / (len(c) + 1) for r, c in zip(rows, it.choices, strict=True)]
            pred = int(np.argmax(scores))
            records.append({"id": it.id, "lang": it.lang, "question": it.question, "options": list(it.choices),
                            "option_scores": [round(s, 6) for s in scores], "pred": pred,
                            "answer": it.answer, "correct": pred == it.answer})  # fmt: skip
        progress(len(chunk))
    return records

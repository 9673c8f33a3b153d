"""The reference multiple-choice prompt (Hendrycks et al. via Chua et al.), its mitigations,
and the answer-letter tokens.

    The following are multiple choice questions (with answers) about  high school biology.

    <demo question>\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer: B\\n\\n   (x shots)
    <question>\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer:

The double space after "about" is the reference's (`format_subject` prefixes every subject
word with a space). A mitigation instruction joins the header sentence after one space.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from xling.errors import DataError
from xling.knowledge.variants import VariantItem
from xling.tokenizer import Tokenizer

# The reference's three inference-time instructions (MMLU/dataset/mmlu.py, INTERV_PROMPTS).
INSTRUCTIONS = {
    "none": "",
    "instruct0": "Keep in mind that the question and options may be presented in various languages.",
    "instruct1": "Remember that the question and options can be in different languages.",
    "translate": "Remember that the question and options can be in different languages. "
    "First translate them all to English. Then output the answer.",
}
OPTION_IDS = {"ABCD": "ABCD", "1234": "1234", "abcd": "abcd"}
LETTER_TOKENS = ("reference", "space")


def format_subject(subject: str) -> str:
    return "".join(" " + word for word in subject.split("_"))


def header(subject: str, mitigation: str = "none") -> str:
    if mitigation not in INSTRUCTIONS:
        raise DataError(f"unknown mitigation {mitigation!r} (known: {', '.join(INSTRUCTIONS)})")
    text = f"The following are multiple choice questions (with answers) about {format_subject(subject)}."
    if INSTRUCTIONS[mitigation]:
        text += " " + INSTRUCTIONS[mitigation]
    return text + "\n\n"


def format_item(item: VariantItem, ids: str = "ABCD", answer: bool = False) -> str:
    text = item.question + "".join(f"\n{ids[j]}. {item.choices[j]}" for j in range(4)) + "\nAnswer:"
    return text + f" {ids['ABCD'.index(item.answer)]}\n\n" if answer else text


def build_prompt(
    item: VariantItem, demos: Sequence[VariantItem] = (), mitigation: str = "none", ids: str = "ABCD"
) -> str:
    """header + demos + item: the text whose next-token logits are read."""
    return (
        header(item.subject, mitigation)
        + "".join(format_item(d, ids, True) for d in demos)
        + format_item(item, ids)
    )


def format_cloze(item: VariantItem, answer: bool = False) -> str:
    """The cloze form (OLMES's "CF"): the question alone, the answer as option text."""
    text = item.question + "\nAnswer:"
    return text + f" {item.choices['ABCD'.index(item.answer)]}\n\n" if answer else text


def build_cloze_prompt(item: VariantItem, demos: Sequence[VariantItem] = (), mitigation: str = "none") -> str:
    """header + cloze demos + the item's question and "Answer:"; each option's text, after a
    space, is the continuation scored."""
    return (
        header(item.subject, mitigation) + "".join(format_cloze(d, True) for d in demos) + format_cloze(item)
    )


@dataclasses.dataclass(frozen=True)
class LetterTokens:
    ids: tuple[int, ...]
    pieces: tuple[str, ...]  # the token strings, recorded: "A" vs "▁A" vs "ĠA"
    rule: str


def letter_tokens(tokenizer: Tokenizer, letters: str = "ABCD", rule: str = "reference") -> LetterTokens:
    """The token read for each answer letter.

    reference: the last id of `tokenizer(letter)` (what the reference code reads): "▁A" for a
        SentencePiece tokenizer with a dummy prefix (Llama 2), "A" for byte-level BPE or
        SentencePiece without one (Llama 3, Gemma, SmolLM2).
    space: the token of " A", what follows "Answer:" in the demonstrations ("▁A" / "ĠA").
    Either way each letter must be exactly one token, or the read logit is not the letter's.
    """
    if rule not in LETTER_TOKENS:
        raise DataError(f"letter token rule must be one of {', '.join(LETTER_TOKENS)}, got {rule!r}")
    ids, pieces = [], []
    for letter in letters:
        text = letter if rule == "reference" else " " + letter
        got = tokenizer.encode(text, add_special_tokens=False)
        # One token that decodes back to the letter (an unknown-token id would not).
        if len(got) != 1 or tokenizer.decode(got).strip() != letter:
            shown = [tokenizer.tok.id_to_token(i) for i in got]
            raise DataError(f"tokenizer has no single token for answer letter {text!r} (it gives {shown})")
        ids.append(got[0])
        pieces.append(tokenizer.tok.id_to_token(got[0]))
    if len(set(ids)) != len(ids):
        raise DataError(f"answer letters {letters!r} share a token id")
    return LetterTokens(tuple(ids), tuple(pieces), rule)

"""xMRC prompts: a plain QA template for base models, the checkpoint's chat template for
instruction-tuned ones. The context comes first so that every question about one context
shares the prompt's prefix (prefilled once, `generate(..., groups=)`).

Templates are config (`c.prompt.*`) with `{context}` and `{question}` fields; the exact text
fed to the model and the template it came from are recorded per example, with the character
offset of the context inside the prompt (where attribution finds the context tokens).
"""

from __future__ import annotations

import dataclasses

from xling.errors import DataError
from xling.inference.chat import chat_prompt
from xling.tokenizer import Tokenizer

PLAIN = (
    "Answer the question with a short span copied from the context.\n\n"
    "Context: {context}\nQuestion: {question}\nAnswer:"
)
SYSTEM = "You answer questions about a text. Reply with a short span copied from the text and nothing else."
USER = "Context: {context}\nQuestion: {question}"
FORMATS = ("auto", "plain", "chat")


@dataclasses.dataclass(frozen=True)
class PromptSpec:
    format: str = "auto"  # "auto": chat if the checkpoint has a chat template, else plain
    plain: str = PLAIN
    system: str = SYSTEM  # "" = no system message (the template's default, if any)
    user: str = USER

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise DataError(f"prompt.format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        for name in ("plain", "user"):
            text = getattr(self, name)
            for field in ("{context}", "{question}"):
                if field not in text:
                    raise DataError(f"prompt.{name} must contain {field}")
            if text.index("{context}") > text.index("{question}"):
                # Not wrong, but questions about one context would no longer share a prefix.
                raise DataError(f"prompt.{name}: put {{context}} before {{question}}")

    def resolve(self, tokenizer: Tokenizer, model_name: str) -> str:
        """ "plain" or "chat" for this model; a chat format for a model without a template is
        an error."""
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if self.format == "chat" and not has_template:
            raise DataError(f"prompt.format=chat but model {model_name} has no chat template")
        if self.format == "auto":
            return "chat" if has_template else "plain"
        return self.format

    def template(self, fmt: str) -> dict:
        """The template text as recorded."""
        if fmt == "plain":
            return {"format": "plain", "text": self.plain}
        return {"format": "chat", "system": self.system, "user": self.user}


def _fill(template: str, context: str, question: str) -> tuple[str, int]:
    """The filled text and the context's character offset in it (fields filled literally:
    a brace in a context is text, not a format field)."""
    head, rest = template.split("{context}", 1)
    middle, tail = rest.split("{question}", 1)
    return head + context + middle + question + tail, len(head)


def build_prompt(
    spec: PromptSpec, fmt: str, tokenizer: Tokenizer, context: str, question: str, model_name: str = ""
) -> tuple[str, int]:
    """(prompt text, character offset of the context in it)."""
    if fmt == "plain":
        return _fill(spec.plain, context, question)
    user, at = _fill(spec.user, context, question)
    messages = ([{"role": "system", "content": spec.system}] if spec.system else []) + [
        {"role": "user", "content": user}
    ]
    text = chat_prompt(tokenizer, messages, name=model_name)
    start = text.find(user)
    if start < 0:  # a template that rewrites the message (e.g. strips it) loses the offset
        raise DataError(f"{model_name}: the chat template does not render the user message verbatim")
    return text, start + at

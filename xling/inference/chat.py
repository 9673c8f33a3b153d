"""Chat templates: a checkpoint's own Jinja template, rendered the way transformers renders it.

Instruction-tuned checkpoints ship their conversation format as a Jinja template
(`chat_template` in tokenizer_config.json, chat_template.jinja, or the GGUF key
`tokenizer.chat_template`). `render_chat` renders such a template in the same
environment as transformers' `apply_chat_template` (utils/chat_template_utils.py):
an immutable sandbox with `trim_blocks` and `lstrip_blocks`, the `loopcontrols`
extension, a `{% generation %}` block that renders its body, a `tojson` filter
that does not escape HTML or non-ASCII text, the globals `raise_exception`,
`strftime_now`, `dict` and `namespace`, and the variables `messages`, `tools`,
`documents`, `add_generation_prompt` and the special-token strings. A base
model has no template; `chat_prompt` then fails with a one-line DataError rather
than inventing a format.

A rendered prompt usually starts with the BOS token when the template writes
`{{ bos_token }}` (Llama 3, Gemma): encode it with `add_special_tokens=False`, as
transformers does, or the BOS appears twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from xling.errors import DataError


class _Generation(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` renders its body unchanged.

    transformers uses the block to find assistant tokens for a training mask; with
    no mask requested it is a no-op there too.
    """

    tags: ClassVar[set[str]] = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.CallBlock:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller) -> str:
        return caller()


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # Jinja's own filter escapes <, >, & and ' for HTML; chat templates want plain JSON.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(format):
    return datetime.now().strftime(format)


class _TemplateDict:
    """`dict(...)` and `dict.fromkeys(...)` without exposing the dict type itself."""

    def __call__(self, *args, **kwargs):
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs):
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    """Jinja's namespace, refusing underscore-prefixed attributes (as transformers does)."""

    def __init__(*args, **kwargs):  # Jinja's signature trick: `namespace(self=...)` still works
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name, value):
        _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name):
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"chat templates cannot store underscore-prefixed attributes on a namespace ({name!r})"
            )


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@lru_cache(maxsize=64)
def _compile(template: str) -> jinja2.Template:
    try:
        return _environment().from_string(template)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise DataError(f"chat template does not compile (line {e.lineno}: {_one_line(e.message)})") from e


def _plain(value: Any) -> Any:
    """Plain JSON-like data only, as transformers gives a template: rich objects have methods
    the sandbox does not know to be unsafe, so anything else becomes a "<TypeName>" string."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return _plain(item())
    return f"<{type(value).__name__}>"


def _check_messages(messages) -> list[dict]:
    if not isinstance(messages, (list, tuple)):
        raise DataError(
            f"chat messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    if not messages:
        raise DataError("chat messages are empty: give at least one {'role', 'content'} dict")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise DataError(
                f"chat message {i} is a {type(message).__name__}, not a {{'role', 'content'}} dict"
            )
        for key in ("role", "content"):
            if not isinstance(message.get(key), str):
                got = "missing" if key not in message else type(message[key]).__name__
                raise DataError(f"chat message {i}: {key!r} must be a string ({got})")
        # transformers drops None-valued keys: templates test for presence, not for None.
        out.append({k: _plain(v) for k, v in message.items() if v is not None})
    return out


def render_chat(
    template: str,
    messages: list[dict],
    *,
    add_generation_prompt: bool = True,
    bos_token: str | None,
    eos_token: str | None,
    **extra,
) -> str:
    """The text of `messages` under a Jinja chat `template`, as transformers'
    `tokenizer.apply_chat_template(messages, tokenize=False, ...)` renders it.

    messages: [{"role": str, "content": str}, ...] (other keys are passed through).
    add_generation_prompt: end with the header of an assistant turn, for the model to fill.
    bos_token, eos_token: the special-token strings; None leaves the variable undefined
    (transformers passes only the tokens a tokenizer has). extra: further template
    variables (e.g. `tools`, `documents`, `enable_thinking`, `pad_token`).

    A template that rejects the conversation (`raise_exception`, e.g. roles out of order)
    or fails to render raises a one-line DataError.
    """
    if not isinstance(template, str) or not template:
        raise DataError("chat template must be a non-empty string")
    chat = _check_messages(messages)
    variables: dict[str, Any] = {"tools": None, "documents": None}
    variables.update((k, v) for k, v in (("bos_token", bos_token), ("eos_token", eos_token)) if v is not None)
    variables = _plain({**variables, **extra})  # extra may override the special tokens, as in transformers
    compiled = _compile(template)
    try:
        return compiled.render(messages=chat, add_generation_prompt=add_generation_prompt, **variables)
    except jinja2.exceptions.TemplateError as e:
        raise DataError(f"chat template rejected the conversation: {_one_line(e.message or e)}") from e


def chat_prompt(
    tokenizer,
    messages: list[dict] | str,
    *,
    system: str | None = None,
    add_generation_prompt: bool = True,
    name: str | None = None,
    **extra,
) -> str:
    """The prompt text of `messages` under the tokenizer's own chat template.

    messages: a list of {"role", "content"} dicts, or one string for a single user turn.
    system: a system message put first (an error if messages already start with one).
    name: the model's name, for the error message when it has no chat template.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        who = f"{name}: " if name else ""
        raise DataError(f"{who}model has no chat template (a base model?): use a plain prompt template")
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if system is not None:
        if not isinstance(system, str):
            raise DataError(f"chat system message must be a string, got {type(system).__name__}")
        if isinstance(messages, (list, tuple)):
            if messages and isinstance(messages[0], Mapping) and messages[0].get("role") == "system":
                raise DataError(
                    "chat messages already start with a system message: drop system= or that message"
                )
            messages = [{"role": "system", "content": system}, *messages]
    return render_chat(
        template,
        messages,
        add_generation_prompt=add_generation_prompt,
        bos_token=getattr(tokenizer, "bos_token", None),
        eos_token=getattr(tokenizer, "eos_token", None),
        **extra,
    )

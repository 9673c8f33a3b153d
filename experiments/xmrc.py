"""xMRC: cross-lingual reading comprehension, base vs instruction-tuned (Gao et al., EMNLP 2025).

    python -m xling.main --config=experiments/xmrc.py --workdir=runs/xmrc
    python -m xling.main --config=experiments/xmrc.py:runlocal --workdir=/tmp/xmrc
    ... --config.languages=en,de,zh --config.settings=en-x,matrix --config.num_questions=0
    ... --config.data.xquad=path/to/xquad     (the released xquad.{lang}.json files)
    ... --config.data.mlqa=path/to/MLQA_V1    (test-context-{c}-question-{q}.json files)

Every field below can be overridden with --config.<field>=...; unknown fields are an error.
"""

import ml_collections

from xling import runtime, sharding
from xling.xmrc import prompts


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "xmrc"
    # Registry names or checkpoint paths, comma-separated; each runs every setting.
    c.models = "gemma3-270m,smollm2-135m-instruct"
    # How each model runs (dtypes, attention, remat); `name` is set from `models` per model.
    c.model = runtime.model_config("")
    c.mesh = sharding.default_config()
    # Comma-separated ISO codes; "" = every language the data has (the shipped set: the 12 of XQuAD).
    # Default (sized for ~10 min on 2 CPU cores, both models): English and five others across scripts.
    c.languages = "en,de,ru,zh,ar,hi"
    # Settings: en-x, x-x, en-en, x-en, matrix, or explicit pairs such as de-zh.
    c.settings = "en-x,x-x,en-en"
    # Per language pair: a seeded subset of whole paragraphs (all their questions), the same ids in
    # every pair (0 = all).
    c.num_questions = 24
    c.seed = 0
    c.bootstrap = 1000  # resamples for the 95% CIs
    c.progress = True

    c.data = ml_collections.ConfigDict()
    c.data.xquad = ""  # "" = the shipped set (xling/data/xmrc); or a directory of xquad.{lang}.json
    c.data.mlqa = ""  # a directory of MLQA files (instead of XQuAD)
    c.data.mlqa_split = "test"
    # A file of question ids (one a line) left out of every pair: e.g. the training questions of
    # an instruction-tuning run (experiments/instruction_tune.py writes train_ids.txt).
    c.data.exclude_ids = ""

    c.prompt = ml_collections.ConfigDict()
    c.prompt.format = "auto"  # auto: the chat template if the checkpoint has one, else the plain template
    c.prompt.plain = prompts.PLAIN  # {context} and {question} are filled in
    c.prompt.system = prompts.SYSTEM  # chat: the system message ("" = none)
    c.prompt.user = prompts.USER  # chat: the user message

    c.generation = ml_collections.ConfigDict()
    c.generation.max_new_tokens = 32  # greedy
    c.generation.batch_size = 32
    c.generation.stop = ("\n",)  # stop strings, besides the model's EOS / end-of-turn ids
    c.generation.share_prefix = True  # prefill each context once for all its questions
    c.generation.stages = (
        8,
        16,
    )  # regroup rows still going after 8 and 16 tokens (short answers finish first)

    if arg == "runlocal":  # a smoke run in a few minutes
        c.languages = "en,de,zh"
        c.num_questions = 4
        c.bootstrap = 200
        c.generation.max_new_tokens = 16
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

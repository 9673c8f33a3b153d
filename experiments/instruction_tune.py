"""Instruction-tune a base model on xMRC prompts, then compare it with its base in the xMRC
experiment on held-out paragraphs.

    python -m xling.main --config=experiments/instruction_tune.py --workdir=runs/sft
    python -m xling.main --config=experiments/instruction_tune.py:runlocal --workdir=/tmp/sft
    # the tuned model in the attribution experiment, on the held-out paragraphs:
    python -m xling.main --config=experiments/xmrc_attribution.py --workdir=runs/attr_sft \\
        --config.xmrc.models=gemma3-270m,runs/sft/model --config.xmrc.data.exclude_ids=runs/sft/train_ids.txt

The default (3 languages, x-x, one epoch over 18 paragraphs) takes about 25 minutes of
training on 2 CPU cores. Every field can be overridden with --config.<field>=...
"""

import ml_collections

from xling import runtime, sharding
from xling.train.run import train_config
from xling.xmrc import prompts


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("xmrc_config", Path(__file__).with_name("xmrc.py"))
    xmrc_config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(xmrc_config)

    c = ml_collections.ConfigDict()
    c.experiment = "instruction_tune"
    c.model = runtime.model_config("gemma3-270m")
    c.mesh = sharding.default_config()
    c.languages = "en,de,zh"  # the pairs trained on come from these
    c.settings = "en-en,x-x"  # en-x, x-x, en-en, x-en, matrix, or pairs such as de-zh
    c.heldout = 8  # paragraphs (of the shipped 26) never trained on; the xMRC evaluation uses only them
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.xquad = ""  # "" = the shipped set; or a directory of xquad.{lang}.json
    c.prompt = ml_collections.ConfigDict()
    c.prompt.format = "auto"  # as the xMRC experiment: the chat template if the checkpoint has one
    c.prompt.plain = prompts.PLAIN
    c.prompt.system = prompts.SYSTEM
    c.prompt.user = prompts.USER
    c.train = train_config(steps=20, batch_size=8, length=384, checkpoint_every=10,
                           optimizer={"learning_rate": 5e-5, "warmup_steps": 2})  # fmt: skip
    c.progress = True
    c.evaluate = True  # run the xMRC experiment on base and tuned model (held-out paragraphs)
    c.xmrc = xmrc_config.get_config()
    c.xmrc.languages = "en,de,zh"
    c.xmrc.num_questions = 0
    c.xmrc.model = ml_collections.ConfigDict(c.model.to_dict())
    if arg == "runlocal":
        c.languages = "en,de"
        c.train.steps = 1
        c.train.batch_size = 2
        c.train.optimizer.warmup_steps = 0
        c.xmrc = xmrc_config.get_config("runlocal")
        c.xmrc.languages = "en,de"
        c.xmrc.settings = "x-x"
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

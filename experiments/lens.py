"""Logit / tuned lens over prompts: per-layer CSV tables and layer x position heatmaps.

python -m xling.main --config=experiments/lens.py --workdir=runs/lens
... --config.prompts_file=my_prompts.txt --config.tuned.steps=300   # train a tuned lens first
... --config.tuned.load=runs/lens/tuned_lens                         # reuse a saved one
"""

import ml_collections

from xling import runtime, sharding


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "lens"
    c.model = runtime.model_config("gemma3-270m")
    c.mesh = sharding.default_config()
    c.seed = 0
    c.top_k = 5
    c.prompts = (
        'Français: "fleur" - 中文: "花"\nFrançais: "chien" - 中文: "',
        'Deutsch: "Buch" - Русский: "книга"\nDeutsch: "Wasser" - Русский: "',
        'English: "water" - हिन्दी: "पानी"\nEnglish: "sun" - हिन्दी: "',
        'Español: "gato" - ไทย: "แมว"\nEspañol: "perro" - العربية: "',
    )  # a tuple, so the CLI can set it: --config.prompts='("a", "b")' or --config.prompts=a --config.prompts=b
    c.heatmap_window = 48  # positions per heatmap image; longer prompts get several (0 = one image)
    c.prompts_file = ""  # .txt (one prompt per line) or .jsonl ("text" field); overrides prompts

    c.tuned = ml_collections.ConfigDict()
    c.tuned.load = ""  # a saved tuned lens directory (checked against the model's unembedding)
    c.tuned.steps = 0  # > 0: train a tuned lens first (saved to WORKDIR/tuned_lens)
    c.tuned.texts = ""  # training text files; "" = the shipped multilingual sample
    c.tuned.layers = ""  # e.g. "4,9,13": train only these translators ("" = all)
    c.tuned.batch_size = 4
    c.tuned.seq_len = 64
    c.tuned.learning_rate = 1e-3
    c.tuned.eval_windows = 32  # held-out windows for the KL report

    if arg == "runlocal":
        c.prompts = c.prompts[:1]
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

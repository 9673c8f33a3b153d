"""A models sweep: every registered model (plus local checkpoints) x the studies' experiments.

    python -m xling.sweep --config=experiments/sweeps/models.py:runlocal --workdir=runs/models
    python -m xling.sweep --config=experiments/sweeps/models.py --workdir=runs/models \
        --config.models=/data/qwen2.5-0.5b,/data/llama-3.2-1b.gguf --sweep.address=auto
    python -m xling.aggregate runs/models

One point per (experiment, model): each model gets its own workdir, so adding a model to the
sweep later runs only its points. `:runlocal` runs each experiment's runlocal variant.
"""

import ml_collections

from xling import registry

# Each experiment's config file and the field that names its model. Multi-model experiments
# take a comma-separated list; here one model per point.
EXPERIMENTS = {
    "word_translation": "model.name",
    "xmrc_attribution": "xmrc.models",  # runs xMRC first, then attributes its records
    "knowledge_barriers": "models",
    "xmrc": "models",
    "surface": "models",
    "lens": "model.name",
}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.variant = ""  # the variant of every experiment config ("runlocal" with :runlocal)
    c.experiments = "word_translation,xmrc_attribution,knowledge_barriers"
    c.registered = True  # every model of xling.registry (the embedded ones)
    c.models = ""  # comma-separated local checkpoints (.gguf files, Hugging Face directories)
    if arg == "runlocal":
        c.variant = "runlocal"
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c


def get_sweep(h, config):
    models = (sorted(registry.REGISTRY) if config.registered else []) + [
        m.strip() for m in config.models.split(",") if m.strip()
    ]
    if not models:
        raise ValueError("the sweep has no model: set config.registered or config.models")
    groups = []
    for name in (e.strip() for e in config.experiments.split(",") if e.strip()):
        if name not in EXPERIMENTS:
            raise ValueError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
        file = f"experiments/{name}.py" + (f":{config.variant}" if config.variant else "")
        groups.append(h.product([h.fixed("config", file), h.sweep(EXPERIMENTS[name], models)]))
    return h.chain(groups)

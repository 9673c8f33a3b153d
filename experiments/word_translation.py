"""Word translation: co-occurrence vs semantic-pivot tracing (He et al. 2025; Wendler et al. 2024).

    python -m xling.main --config=experiments/word_translation.py --workdir=runs/wt
    python -m xling.main --config=experiments/word_translation.py:runlocal --workdir=/tmp/wt
    ... --config.pairs=fr-zh,de-en --config.data.lexicon=path/to/fr-en.txt --config.trace.pivot=any

Every field below can be overridden with --config.<field>=...; unknown fields are an error.
"""

import ml_collections

from xling import runtime, sharding


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "word_translation"
    # The model and how it runs (dtypes, attention, remat); --config.model.name=... picks another.
    c.model = runtime.model_config("gemma3-270m")
    # Devices and sharding rules: axis sizes (-1 = the remaining devices), logical-axis rules,
    # and `distributed` for multi-host runs (BUILD_NOTES.md).
    c.mesh = sharding.default_config()
    # src-tgt, comma-separated. Default (sized for `make run`: ~8 min on 2 CPU cores): one pair into
    # English, three whose pivot (English) differs from source and target, across scripts.
    c.pairs = "fr-en,fr-zh,de-fr,ja-zh"
    c.num_concepts = 30  # per pair, a seeded sample of the lexicon (0 = all 225)
    c.seed = 0
    c.bootstrap = 1000  # resamples for the 95% CIs
    c.progress = True

    c.data = ml_collections.ConfigDict()
    c.data.lexicon = ""  # "" = the bundled xling/data/lexicons/core.jsonl; or MUSE / clean.csv / CLWTD files
    c.data.src = ""  # the languages of a MUSE dictionary not named like fr-en.txt
    c.data.tgt = ""
    c.data.pos = ""  # restrict to one part of speech ("noun", "verb", "adjective"); "" = all

    c.prompt = ml_collections.ConfigDict()
    c.prompt.style = "quoted"  # traced prompt: "quoted" (Français: "chien" - English: ") or "clwtd"
    c.prompt.names = "native"  # language names: "native" (Français) or "english" (French)
    c.prompt.num_demos = 5
    c.prompt.num_demo_sets = 5  # the CLWTD Score averages over this many random demo sets

    c.trace = ml_collections.ConfigDict()
    c.trace.lens = (
        ""  # "" = logit lens; or a tuned lens directory (experiments/lens.py --config.tuned.steps=N)
    )
    c.trace.pivot = "en"  # the latent language whose word is tracked; "any" = all other lexicon languages
    c.trace.rule = "primary"  # behaviour rule: "primary" or "threshold" (both are recorded)
    c.trace.threshold = 0.1  # threshold rule: min top-1 probability of a pivot token
    c.trace.first_layer = 1  # rules ignore layers below (layer 0 reads the embeddings: the input token)
    c.trace.word_tokens_only = True  # rules ignore top-1 tokens with no letter (quotes, spaces, bytes)
    c.trace.num_distractors = 9
    c.trace.max_new_tokens = 8
    c.trace.batch_size = 8
    c.trace.score = True  # CLWTD Score (teacher-forced, 5 demo sets x (1 + 9 distractors) prompts)

    c.frequency = ml_collections.ConfigDict()
    c.frequency.source = (
        "wordfreq"  # "wordfreq" (offline), "corpus" (Apache Beam count), "counts" (JSON), "none"
    )
    c.frequency.kind = "target"  # "target" word count, "source" word count, or "pair" co-occurrence
    c.frequency.corpus = ""  # comma-separated .txt/.jsonl files or globs, for source=corpus
    c.frequency.counts = ""  # a precomputed counts JSON file, for source=counts
    c.frequency.window = 100  # co-occurrence window in tokens

    if arg == "runlocal":  # a smoke run in about a minute
        c.pairs = "fr-en,fr-zh"
        c.num_concepts = 4
        c.bootstrap = 200
        c.prompt.num_demo_sets = 2
        c.trace.num_distractors = 3
        c.trace.batch_size = 4
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c


def get_sweep(h, config):
    """`python -m xling.sweep --config=experiments/word_translation.py:runlocal --workdir=DIR`:
    both embedded models x both prompt styles, one workdir each (xling.sweep)."""
    return h.product([
        h.sweep("model.name", ["gemma3-270m", "smollm2-135m-instruct"]),
        h.sweep("prompt.style", ["quoted", "clwtd"]),
    ])  # fmt: skip

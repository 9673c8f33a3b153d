"""Surface tests (Chua et al. 2025): few-shot translation and code-switched embeddings.

    python -m xling.main --config=experiments/surface.py --workdir=runs/surface
    python -m xling.main --config=experiments/surface.py:runlocal --workdir=/tmp/surface
    ... --config.directions=en-fr,fr-en --config.num_sentences=0 --config.passages=0

Every field below can be overridden with --config.<field>=...; unknown fields are an error.
"""

import ml_collections

from xling import runtime, sharding


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "surface"
    # Registry names or checkpoint paths, comma-separated; each runs both tests.
    c.models = "gemma3-270m,smollm2-135m-instruct"
    # How each model runs (dtypes, attention, remat); `name` is set from `models` per model.
    c.model = runtime.model_config("")
    c.mesh = sharding.default_config()

    # Translation: source-target pairs of the sentence set's languages (en fr de es it zh ja ru).
    c.directions = "en-fr,en-de,en-es,en-it,fr-en,de-en,es-en,it-en,en-zh,en-ja,en-ru"
    c.shots = 3  # demonstrations: the first `shots` sentences of the set (never a test sentence)
    # Test sentences per direction: the ones after the demonstrations, the first num_sentences of
    # them (0 = all 107). Default (measured 6.5 min on 2 CPU cores, both models, embeddings
    # included): 11 directions x 10 sentences = 110 generations per model.
    c.num_sentences = 10
    # Embeddings: English passages from "xquad" (the 26 English XQuAD paragraphs) and "sentences"
    # (the 110 English sentences); `passages` of them, a seeded subset (0 = all 136, the default:
    # 544 forward passes per model, well under a minute each on 2 CPU cores).
    c.passage_sources = "xquad,sentences"
    c.passages = 0
    c.seed = 0  # the passage subset and the code-switching draws
    c.bootstrap = 1000  # resamples for the 95% CIs
    c.progress = True

    c.data = ml_collections.ConfigDict()
    c.data.sentences = ""  # "" = the shipped set (xling/data/parallel/sentences.jsonl)
    c.data.paragraphs = ""  # "" = the shipped English XQuAD (xling/data/xmrc/xquad.en.json)

    c.codeswitch = ml_collections.ConfigDict()
    c.codeswitch.rate = 0.16  # share of eligible words replaced (deleted, for the baseline)
    c.codeswitch.languages = "fr,de,es,it"  # each replaced word goes into one, drawn uniformly
    # "" = the bundled glosses (every word form of the shipped English texts: 91% of their
    # words are eligible, the rest names and numbers); or a lexicon file (xling JSONL, MUSE...).
    c.codeswitch.lexicon = ""

    c.generation = ml_collections.ConfigDict()
    c.generation.max_new_tokens = 64  # greedy
    c.generation.batch_size = 16
    c.generation.stop = ("\n",)
    c.generation.stages = (24,)  # regroup the rows still going after 24 tokens

    c.embedding = ml_collections.ConfigDict()
    c.embedding.batch_size = 16
    c.embedding.skip_bos = True  # pool without the BOS token (the same large state in every text)
    # Report centred cosines (the mean pooled state of all the run's texts subtracted per layer
    # and dimension): raw ones sit near 0.99 at every layer because a few massive-activation
    # dimensions are shared by every text. Both are in results.jsonl.
    c.embedding.centre = True

    if arg == "runlocal":  # a smoke run in a minute or two
        c.directions = "en-fr,de-en"
        c.num_sentences = 4
        c.passages = 6
        c.bootstrap = 200
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

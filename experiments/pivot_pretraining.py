"""Pivot-aware continued pre-training (He et al. 2025, METHODS.md §1): mine semantic pivots in a
corpus, select pre-training mixes of one token budget, continue pre-training, re-measure.

    python -m xling.main --config=experiments/pivot_pretraining.py --workdir=runs/pivots
    python -m xling.main --config=experiments/pivot_pretraining.py:runlocal --workdir=/tmp/pivots
    ... --config.corpus.shards='data/shard-*.jsonl.gz' --config.corpus.languages=en,fr,zh,ja
    ... --config.mining.workers=2 --config.mining.runner_args='--runner=DataflowRunner --project=...'

The reference code never released its document selection; every choice here is a field. The
default trains each of three mixes for 12 steps of 4 x 128 tokens from Gemma 3 270M (measured
on 2 CPU cores with --config.eval.every=12, one evaluation per mix: 17 min; the default
every=6 adds three evaluations of about 3 min each); on a GPU or TPU raise `train.steps`, `train.batch_size` and
`train.length` (BUILD_NOTES: training on accelerators) and the evaluation sizes. Every field
can be overridden with --config.<field>=...; unknown fields are an error.
"""

import importlib.util
from pathlib import Path

import ml_collections

from xling import runtime, sharding
from xling.train.run import train_config


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_config", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "pivot_pretraining"
    c.model = runtime.model_config("gemma3-270m")
    c.mesh = sharding.default_config()
    c.seed = 0  # document samples, selection order, bootstrap
    c.bootstrap = 1000
    c.progress = True

    c.corpus = ml_collections.ConfigDict()
    c.corpus.shards = ""  # JSONL(.gz) shards, comma-separated globs; "" = the default corpus
    # The default corpus's languages, and the candidates for documents without a `lang` field.
    c.corpus.languages = "en,fr,de,es,it,zh,ja,ru"

    c.mining = ml_collections.ConfigDict()
    # Word pairs mined: the first N lexicon concepts of each evaluation pair (0 = all 225).
    c.mining.num_concepts = 0
    c.mining.tokens = "model"  # "model": the model's tokenizer; "words": whitespace words
    c.mining.sample = 1000  # documents sampled per word (the smallest seeded hashes)
    c.mining.top_k = 100  # candidates kept per word pair (the reference: 100)
    c.mining.min_docs = 3  # a pair is ranked only if each word is in this many documents
    c.mining.word_tokens_only = True  # candidates only among tokens with a letter
    c.mining.workers = 1  # DirectRunner processes (multi_processing above 1)
    c.mining.runner_args = ""  # another Beam runner's flags, e.g. "--runner=FlinkRunner ..."

    c.graph = ml_collections.ConfigDict()
    c.graph.window = 32  # tokens per co-occurrence window
    c.graph.min_df = 3  # graph nodes: tokens of at least this many documents
    c.graph.min_weight = 3  # an edge counts for a degree from this many shared windows
    c.graph.min_degree = 0
    c.graph.top = 2000  # the pivot set: the `top` tokens of highest degree (0 = all >= min_degree)
    c.graph.word_tokens_only = True  # nodes only for tokens with a letter

    c.selection = ml_collections.ConfigDict()
    c.selection.mixes = "original,multilingual,pivot"
    c.selection.pivots = "graph"  # "graph", "mined" (union of the pairs' candidates) or "both"
    c.selection.min_tokens = 16  # `pivot`: shorter documents are not ranked
    c.selection.alpha = 0.3  # `multilingual`: language shares proportional to tokens^alpha

    # The same budget per mix: steps x batch_size x accumulation x length tokens (6,144 here).
    c.train = train_config(steps=12, batch_size=4, length=128, checkpoint_every=6,
                           optimizer={"learning_rate": 5e-5, "warmup_steps": 2})  # fmt: skip

    c.eval = ml_collections.ConfigDict()
    c.eval.every = 6  # and after the last step; the base model is evaluated once
    c.eval.keep_models = False  # keep each evaluated checkpoint's HF export (1 GB each in fp32)
    # Keep a mix's training checkpoints once all its evaluations are done (3.2 GB for Gemma 3
    # 270M: parameters and both AdamW moments); an unfinished mix always keeps them.
    c.eval.keep_checkpoints = False
    wt = _sibling("word_translation").get_config()
    wt.pairs = "fr-en,en-zh"
    wt.num_concepts = 20
    wt.prompt.num_demo_sets = 3
    wt.model = ml_collections.ConfigDict(c.model.to_dict())
    c.eval.word_translation = wt
    mt = _sibling("surface").get_config()
    mt.models = c.model.name
    mt.directions = "en-fr,fr-en,en-zh,zh-en"
    mt.num_sentences = 10
    mt.passage_sources = "sentences"
    mt.passages = 1  # the surface experiment's embedding test, kept to one passage
    c.eval.translation = mt

    if arg == "runlocal":  # counts -> selection -> 2 training steps -> evaluation, in minutes
        c.corpus.languages = "en,fr,zh"
        c.mining.sample = 200
        c.mining.top_k = 20
        c.graph.top = 500
        c.selection.mixes = "original,pivot"
        c.train = train_config(steps=2, batch_size=2, length=64, checkpoint_every=1,
                               optimizer={"learning_rate": 5e-5, "warmup_steps": 0})  # fmt: skip
        c.eval.every = 2
        c.bootstrap = 100
        wt = _sibling("word_translation").get_config("runlocal")
        wt.pairs = "fr-en"
        wt.num_concepts = 3
        wt.model = ml_collections.ConfigDict(c.model.to_dict())
        c.eval.word_translation = wt
        mt = _sibling("surface").get_config("runlocal")
        mt.models = c.model.name
        mt.directions = "en-fr"
        mt.num_sentences = 2
        mt.passage_sources = "sentences"
        mt.passages = 1
        c.eval.translation = mt
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

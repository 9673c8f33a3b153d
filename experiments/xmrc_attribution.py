"""xMRC attribution: AttnLRP relevance, phases and oracle answers (Gao et al., EMNLP 2025, part 2).

    python -m xling.main --config=experiments/xmrc_attribution.py --workdir=runs/xmrc_attr
    python -m xling.main --config=experiments/xmrc_attribution.py:runlocal --workdir=/tmp/xa
    ... --config.records=runs/xmrc          (a finished xMRC workdir instead of running one)
    ... --config.targets=first_token,gold --config.rules=cp_lrp

Every field below can be overridden with --config.<field>=...; unknown fields are an error.
"""

import runpy
from pathlib import Path

import ml_collections

from xling import runtime, sharding

_XMRC = runpy.run_path(str(Path(__file__).with_name("xmrc.py")))["get_config"]


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "xmrc_attribution"
    # A finished xMRC workdir (its results.jsonl); "" = run the xMRC config below first, into
    # {workdir}/xmrc (resumable; finished units kept).
    c.records = ""
    c.xmrc = _XMRC("runlocal" if arg == "runlocal" else "")
    # The default xMRC run is cut to two languages and 12 questions per pair, the attribution
    # below to every record: 2 models x 3 settings (en-x: en-de; x-x: de-de; en-en), 12 each.
    if arg != "runlocal":
        c.xmrc.languages = "en,de"
        c.xmrc.num_questions = 12
    c.models = ""  # subset of the records' models ("" = all)
    c.settings = ""  # subset of the records' settings ("" = all)
    c.num_examples = 0  # per (model, setting), the first N records (0 = all)
    # first_token: the logit of the first generated token; gold: the teacher-forced gold answer.
    c.targets = "first_token,gold"
    c.rules = "attnlrp"  # attnlrp, cp_lrp, plain (gradient x input)
    c.mrd_fraction = 0.95  # a token's MRD: the layer reaching this share of its cumulative |R|
    c.oracle_layer = 0  # the layer whose token relevance picks the oracle span (0 = input tokens)
    c.batch_size = 4
    # Per-layer rematerialisation of the relevance backward: "full" bounds memory on large
    # models; "none" is ~7% faster where memory allows (benchmarks/RESULTS.md).
    c.remat = "full"
    # How each model runs (dtypes, attention); its own remat field is not used here.
    c.model = runtime.model_config("")
    c.mesh = sharding.default_config()
    c.seed = 0
    c.bootstrap = 1000
    c.progress = True
    if arg == "runlocal":
        c.num_examples = 4
        c.bootstrap = 200
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

"""Cross-lingual knowledge barriers: mixed-language multiple choice (Chua et al., COLM 2025).

    python -m xling.main --config=experiments/knowledge_barriers.py --workdir=runs/kb
    python -m xling.main --config=experiments/knowledge_barriers.py:runlocal --workdir=/tmp/kb
    ... --config.variants=all --config.shots=0,5 --config.demos=en,same
    ... --config.mitigations=none,instruct0,instruct1,translate --config.option_ids=1234
    ... --config.data.mmlu=path/to/mmlu --config.data.mmmlu=path/to/mmmlu   (the released sets)

Every field below can be overridden with --config.<field>=...; unknown fields are an error.
"""

import ml_collections

from xling import runtime, sharding


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "knowledge_barriers"
    c.models = "gemma3-270m,smollm2-135m-instruct"
    c.model = runtime.model_config("")  # dtypes, attention, remat; `name` comes from `models`
    c.mesh = sharding.default_config()
    # en, mixup, {full,question,options,gt,gt_question,onewrong,threewrong}_{fr,de,es,it}, or "all".
    c.variants = "en,mixup,full_fr,full_de,full_es,full_it,question_fr,options_fr,gt_fr,gt_question_fr,onewrong_fr,threewrong_fr"
    c.shots = "0"  # comma-separated, e.g. "0,5" (5-shot demonstrations are prefilled once per subject)
    c.demos = (
        "en"  # with shots > 0: "en" (English demonstrations) and/or "same" (the same variant, dev split)
    )
    c.mitigations = "none"  # none, instruct0, instruct1 (the reference's instructions), translate (generated)
    c.option_ids = "ABCD"  # or "1234", "abcd"
    c.letter_token = "reference"  # "reference": last id of tokenizer("A"); "space": the token of " A"
    # "letter": the reference's scoring (letter logits after the lettered options). "cloze": each
    # option's text scored after the question (log-likelihood per character, OLMES); models under
    # ~1B parameters answer the lettered format at chance with a letter bias, cloze still reads
    # what they know. Comma-separated for both.
    c.scoring = "letter,cloze"
    # The default (12 variants x 2 scorings x 2 models, 0-shot, 160 questions): 31 min on 2 CPU cores.
    c.max_new_tokens = 256  # translate-then-answer
    c.batch_size = 16
    c.num_questions = 0  # per subject, the first N test questions (0 = all)
    c.seed = 0
    c.bootstrap = 1000
    c.progress = True
    c.data = ml_collections.ConfigDict()
    c.data.mmlu = ""  # "" = the shipped set; or the directory holding MMLU's data/{dev,test}
    c.data.mmmlu = ""  # "" = the shipped set; or the folder of mmlu_{LOCALE}.csv files
    c.data.subjects = ""  # comma-separated subset; "" = all
    if arg == "runlocal":
        c.variants = "en,mixup,full_fr"
        c.num_questions = 3
        c.bootstrap = 200
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

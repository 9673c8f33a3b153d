"""Mixed-language fine-tuning lowers the knowledge barrier? (Chua et al., COLM 2025, §3.5)

    python -m xling.main --config=experiments/mixed_language_finetune.py --workdir=runs/mlft
    python -m xling.main --config=experiments/mixed_language_finetune.py:runlocal --workdir=/tmp/mlft
    ... --config.conditions=english,document,sentence,chunk --config.finetune.steps=200
    ... --config.data.parallel=my_parallel.jsonl --config.data.group_by=doc_id
    ... --config.eval.variants=en,mixup,full_fr,full_de,full_es,full_it,question_fr

Fine-tunes Gemma 3 270M on English-only vs code-switched text (same token budget), then
teaches it invented facts in English and asks them in five languages, with and without the
prior mixed-language fine-tuning. The default (12 people) is sized for about an hour on 2 CPU cores; on
a GPU or TPU raise `finetune.steps`, `facts.steps` and `eval.num_questions` (BUILD_NOTES:
training on accelerators). Every field can be overridden with --config.<field>=...; unknown
fields are an error.
"""

import ml_collections

from xling import runtime, sharding
from xling.train.run import train_config


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "mixed_language_finetune"
    c.model = runtime.model_config("gemma3-270m")
    c.mesh = sharding.default_config()
    c.languages = "en,fr,de,es,it"  # the rendering languages of the mixing and of the QA test
    # english: the English side only; document/sentence/chunk: code-switched at that granularity.
    c.conditions = "english,sentence,chunk"
    c.mixing = ml_collections.ConfigDict()
    c.mixing.seed = 42  # the reference's seed; pass k of the corpus uses seed + k
    c.mixing.chunk_words = 8
    # Fine-tuning: the same steps x rows x tokens for every condition. The reference fine-tunes
    # 7-8B models at lr 2e-5 for one epoch of WikiText-103; at a few thousand tokens a 270M model
    # needs a larger step to change at all.
    c.finetune = train_config(steps=8, batch_size=8, length=128, checkpoint_every=4,
                              optimizer={"learning_rate": 5e-5, "warmup_steps": 1})  # fmt: skip
    # Learning the fictitious facts: English biographies and QA pairs, from the base model (none)
    # and from each fine-tuned one.
    c.facts = train_config(steps=10, batch_size=8, length=128, checkpoint_every=7,
                           optimizer={"learning_rate": 2e-4, "warmup_steps": 1})  # fmt: skip
    c.facts.parts = "biography,qa"
    c.facts.priors = "none,english,sentence,chunk"
    c.eval = ml_collections.ConfigDict()
    c.eval.variants = "en,mixup,full_fr,full_de"  # mixed-language MMLU variants, cloze scoring
    c.eval.num_questions = 0  # per subject (0 = all of the shipped 160)
    c.eval.num_people = 12  # the first N fictitious people, learnt and asked (0 = all 24)
    c.eval.batch_size = 16
    c.eval.qa_after_finetune = False  # also ask the facts of the fine-tuned models (before learning them)
    c.eval.mc_after_facts = False  # also run the multiple choice after learning the facts
    c.data = ml_collections.ConfigDict()
    c.data.parallel = ""  # aligned JSONL ("" = xling's parallel sentences)
    c.data.group_by = "topic"  # rows sharing this field (consecutive) form one document
    c.data.people = ""  # "" = the shipped fictitious people
    c.data.mc = ml_collections.ConfigDict()
    c.data.mc.mmlu = ""  # "" = the shipped multiple-choice set; or MMLU's data/ directory
    c.data.mc.mmmlu = ""
    c.data.mc.subjects = ""
    c.seed = 0  # distractors of the QA test, bootstrap
    c.bootstrap = 1000
    c.progress = True
    if arg == "runlocal":
        c.languages = "en,fr,de"
        c.conditions = "english,chunk"
        c.finetune.steps = 1
        c.finetune.batch_size = 2
        c.finetune.length = 64
        c.facts.steps = 1
        c.facts.batch_size = 2
        c.facts.length = 64
        c.facts.priors = "none,chunk"
        c.finetune.optimizer.warmup_steps = 0  # one step: no warm-up, or it would train at lr 0
        c.facts.optimizer = ml_collections.ConfigDict(c.finetune.optimizer.to_dict())  # one compiled step
        c.eval.num_people = 4
        c.eval.variants = "en,mixup"
        c.eval.num_questions = 1
        c.bootstrap = 100
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (known: runlocal)")
    return c

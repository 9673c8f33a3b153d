"""Supervised instruction tuning on xMRC prompts: a base model's own post-trained version, for
the base-vs-post-trained comparisons of the xMRC and attribution experiments (Gao et al.
attribute the answer-retrieval phase to post-training).

1. **Split** the reading-comprehension data by paragraph (seeded, the same paragraphs in
   every language): `heldout` paragraphs are never trained on; `train_ids.txt` lists the
   training questions, for `--config.data.exclude_ids=` of the xMRC experiment.
2. **Tune**: one row per training question and language pair of `settings`, the prompt
   exactly as the xMRC experiment builds it (the model's chat template, or the plain one) and
   the first gold answer as the scored reply (then EOS). Resumable (`train/`).
3. **Export** the tuned weights as a Hugging Face directory (`model/`), loadable by
   `xling.load`, transformers, and every experiment's `models` field.
4. With `evaluate`, the xMRC experiment (`config.xmrc`) runs on the base and the tuned
   model, on the held-out paragraphs only, into `xmrc/`.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import ml_collections

from xling.checkpoints.export import export_hf
from xling.errors import DataError
from xling.experiments import xmrc
from xling.runtime import load_runtime, make_partitioning
from xling.train import run as train_run
from xling.train.data import supervised_rows
from xling.workdir import Workdir, atomic_write
from xling.xmrc.prompts import PromptSpec, build_prompt
from xling.xmrc.settings import QAData, paragraph_keys, parse_list, select_ids, setting_pairs

REPORT_FIELDS = ("progress", "mesh", "evaluate", "xmrc")
log = logging.getLogger(__name__)


def split(data: QAData, heldout: int, seed: int) -> tuple[set[str], set[str]]:
    """(training question ids, held-out question ids), split by whole paragraphs."""
    en = data.pair(data.languages[0], data.languages[0])
    ids, keys = [e.id for e in en], paragraph_keys(en)
    n_par = len(set(keys))
    if not 0 < heldout < n_par:
        raise DataError(f"config.heldout must be between 1 and {n_par - 1} paragraphs, got {heldout}")
    per_paragraph = {}
    for qid, key in zip(ids, keys, strict=True):
        per_paragraph.setdefault(key, []).append(qid)
    held_keys = select_ids(sorted(per_paragraph), heldout, seed)
    held = {q for k in held_keys for q in per_paragraph[k]}
    return set(ids) - held, held


def examples(config, data: QAData, tokenizer, fmt: str, train_ids: set[str]) -> list[tuple[str, str]]:
    prompts = PromptSpec(**config.prompt.to_dict())
    pairs = []
    for setting in parse_list(config.settings, "config.settings"):
        for c, q in setting_pairs(setting, data.languages):
            for e in data.pair(c, q):
                if e.id in train_ids:
                    prompt, _ = build_prompt(
                        prompts, fmt, tokenizer, e.context, e.question, config.model.name
                    )
                    answer = e.answers[0].text
                    pairs.append((prompt, " " + answer if fmt == "plain" else answer))
    if not pairs:
        raise DataError("no training examples: check config.settings and config.languages")
    return pairs


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    train_run.check(config.train)
    languages = parse_list(config.languages, "config.languages")
    data = QAData.open(config.data.xquad, "", languages, "test")
    train_ids, held = split(data, config.heldout, config.seed)
    part = make_partitioning(config.get("mesh"))
    work = Workdir(workdir).start(config.to_dict(), REPORT_FIELDS)
    atomic_write(work.path / "train_ids.txt", "".join(f"{i}\n" for i in sorted(train_ids)))
    atomic_write(work.path / "heldout_ids.txt", "".join(f"{i}\n" for i in sorted(held)))
    out = work.path / "model"
    if not (out / "tokenizer_config.json").is_file():  # written last by export_hf
        rt = load_runtime(config.model, partitioning=part)
        fmt = PromptSpec(**config.prompt.to_dict()).resolve(rt.tokenizer, config.model.name)
        pairs = examples(config, data, rt.tokenizer, fmt, train_ids)
        rows = supervised_rows(rt.tokenizer, pairs, config.train.length, add_special_tokens=fmt == "plain")
        log.info("instruction tuning on %d examples (%s prompts)", len(rows), fmt)
        tuned, _ = train_run.fit(rt.model, rows, config.train, work.path / "train", partitioning=part,
                                       progress=config.progress, copy=False)  # fmt: skip
        if out.exists():
            shutil.rmtree(out)  # an export cut short
        export_hf(tuned, rt.tokenizer, rt.loaded.path, out)
        del rt, tuned
    summary = {"model": str(out), "train_questions": len(train_ids), "heldout_questions": len(held)}
    if config.evaluate:
        c = ml_collections.ConfigDict(config.xmrc.to_dict())
        c.models = f"{config.model.name},{out}"
        c.data.xquad = config.data.xquad
        c.data.exclude_ids = str(work.path / "train_ids.txt")
        summary["xmrc"] = str(work.path / "xmrc")
        xmrc.run(c, work.path / "xmrc")
    work.write("summary.json", json.dumps(summary, indent=2) + "\n")
    return summary

"""The instruction-tuning recipe: the paragraph split, the supervised rows (the xMRC prompt,
only the answer scored), and runlocal end to end on SmolLM2 (tune, export, the xMRC
comparison on held-out paragraphs only)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from xling.errors import DataError
from xling.experiments import instruction_tune as it
from xling.xmrc.settings import QAData, paragraph_keys

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "instruction_tune.py"
get_config = runpy.run_path(str(CONFIG))["get_config"]


def test_split_is_by_whole_paragraphs_and_seeded():
    data = QAData.open("", "", ["en", "de"], "test")
    train, held = it.split(data, 8, 0)
    en = data.pair("en", "en")
    key = dict(zip([e.id for e in en], paragraph_keys(en), strict=True))
    assert train and held and not train & held and train | held == set(key)
    assert len({key[q] for q in held}) == 8 and not {key[q] for q in held} & {key[q] for q in train}
    assert it.split(data, 8, 0) == (train, held) and it.split(data, 8, 1) != (train, held)
    with pytest.raises(DataError, match=r"config\.heldout must be between 1 and 25"):
        it.split(data, 26, 0)


def test_rows_score_only_the_answer():
    from xling.registry import load_tokenizer
    from xling.train.data import supervised_rows

    tok = load_tokenizer("smollm2-135m-instruct")
    c = get_config("runlocal")
    c.model.name = "smollm2-135m-instruct"
    data = QAData.open("", "", ["en", "de"], "test")
    train, _ = it.split(data, 8, 0)
    pairs = it.examples(c, data, tok, "chat", train)
    assert len(pairs) == 2 * len(train)  # en-en and de-de (x-x: the languages other than en)
    prompt, answer = pairs[0]
    assert prompt.endswith("<|im_start|>assistant\n") and "Context: " in prompt
    row = supervised_rows(tok, [(prompt, answer)], 512, add_special_tokens=False)[0]
    scored = row["targets"][row["loss_mask"] > 0]
    assert tok.decode(list(scored)) == answer + tok.decode([tok.eos_id])
    assert np.count_nonzero(row["tokens"][: len(tok.encode(prompt, add_special_tokens=False))]) > 0


@pytest.mark.slow
@pytest.mark.memory_heavy(gb=6)  # 4.6 GB measured
def test_runlocal_end_to_end(tmp_path):
    import xling

    c = get_config("runlocal")
    c.model.name = "smollm2-135m-instruct"  # a small model with a chat template keeps this quick
    c.progress = c.xmrc.progress = False
    c.xmrc.num_questions = 2
    summary = it.run(c, tmp_path)
    out = Path(summary["model"])
    tuned = xling.load(out)
    assert tuned.config.num_layers == 30
    train = set((tmp_path / "train_ids.txt").read_text().split())
    held = set((tmp_path / "heldout_ids.txt").read_text().split())
    records = [json.loads(x) for x in (tmp_path / "xmrc" / "results.jsonl").read_text().splitlines()]
    assert {r["model"] for r in records} == {"smollm2-135m-instruct", str(out)}
    assert {r["id"] for r in records} <= held and not {r["id"] for r in records} & train
    metrics = (tmp_path / "train" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 2  # header + one step
    again = it.run(c, tmp_path)  # finished: nothing is trained or exported again
    assert again == summary and xling.load(out).config == tuned.config

"""Aggregation on hand-made workdirs: the table's numbers, the cross-model statistics against
scipy/numpy, the files written, and bad input as one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from xling.aggregate import aggregate
from xling.errors import DataError
from xling.metrics.stats import bootstrap_ci

ROOT = Path(__file__).resolve().parents[1]
CI = [0.5, 0.25, 0.75]


def _workdir(root: Path, name: str, config: dict, summary: dict, records: list[dict] | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    (d / "summary.json").write_text(json.dumps(summary))
    if records is not None:
        (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return d


def _wt(root: Path, model: str, scores: list[float], behaviours: list[str]) -> None:
    records = [{"src_lang": "fr", "tgt_lang": "en", "correct": s > 0.5, "score": s, "behaviour": b}
               for s, b in zip(scores, behaviours, strict=True)]  # fmt: skip
    pair = {"n": len(scores), "n_classified": sum(b != "excluded" for b in behaviours), "accuracy": CI,
            "score": CI, "pivot": CI, "co_occurrence": CI}  # fmt: skip
    _workdir(root, f"wt_{model}", {"experiment": "word_translation", "model": {"name": model}},
             {"pairs": {"fr-en": pair}}, records)  # fmt: skip


def _kb(root: Path, model: str, en: list[int], mixup: list[int]) -> None:
    records = [{"model": model, "variant": v, "mitigation": "none", "scoring": "letter", "shots": 0,
                "subject": "s", "id": f"q{i}", "correct": bool(c)}
               for v, cs in (("en", en), ("mixup", mixup)) for i, c in enumerate(cs)]  # fmt: skip
    rows = [{"model": model, "variant": v, "scoring": "letter", "shots": 0, "demos": "en", "mitigation": "none",
             "n": len(en), "accuracy": [float(np.mean(cs)), 0.0, 1.0]} for v, cs in (("en", en), ("mixup", mixup))]  # fmt: skip
    _workdir(root, f"kb_{model}", {"experiment": "knowledge_barriers"}, {"rows": rows}, records)


PHASING = {  # (model, setting) -> (phasing stability, generated F1)
    ("a", "en-x"): (0.2, 0.3), ("a", "x-x"): (0.5, 0.45), ("a", "en-en"): (0.9, 0.8),
    ("b", "en-x"): (0.1, 0.2), ("b", "x-x"): (0.4, 0.6), ("b", "en-en"): (0.7, 0.65),
}  # fmt: skip


def _xa(root: Path) -> None:
    for model in ("a", "b"):
        rows = [{"model": m, "setting": s, "target": "first_token", "n": 10, "generated_f1": [f, f - 0.1, f + 0.1],
                 "oracle_f1": CI, "phasing_stability": [p, p - 0.1, p + 0.1]}
                for (m, s), (p, f) in PHASING.items() if m == model]  # fmt: skip
        pooled = [{"model": model, "target": "first_token", "n": 30, "generated_f1": CI, "oracle_f1": CI,
                   "phasing_stability": CI}]  # fmt: skip
        _workdir(root, f"xa_{model}", {"experiment": "xmrc_attribution"}, {"rows": rows, "models": pooled})


@pytest.fixture
def sweep_dir(tmp_path) -> Path:
    root = tmp_path / "runs"
    _wt(
        root,
        "gemma3-270m",
        [0.9, 0.2, 0.6, 0.4],
        ["semantic-pivot", "co-occurrence", "semantic-pivot", "excluded"],
    )
    _wt(root, "smollm2-135m-instruct", [0.1, 0.3, 0.2, 0.8], ["co-occurrence"] * 3 + ["semantic-pivot"])
    _kb(root, "gemma3-270m", en=[1, 1, 0, 1, 1, 0], mixup=[0, 1, 0, 0, 1, 0])
    _xa(root)
    _workdir(root, "mystery", {"experiment": "my_study"}, {"anything": 1})
    (root / "unfinished").mkdir()  # a point still running: no summary.json, left out
    meta = root / "_sweep"
    meta.mkdir()
    (meta / "wt_gemma3-270m.done.json").write_text(json.dumps({"command": [], "wall_s": 12.5}))
    return root


def _row(result, **match):
    (row,) = [r for r in result.rows if all(getattr(r, k) == v for k, v in match.items())]
    return row


def test_pooled_word_translation_rows_match_numpy_and_the_bootstrap(sweep_dir, tmp_path):
    result = aggregate([sweep_dir], tmp_path / "out", n_resamples=200)
    score = _row(result, model="gemma3-270m", group="all pairs", metric="score")
    assert score.value == pytest.approx(np.mean([0.9, 0.2, 0.6, 0.4]), abs=1e-12)
    assert (score.value, score.lo, score.hi) == pytest.approx(
        bootstrap_ci([0.9, 0.2, 0.6, 0.4], n_resamples=200)
    )
    pivot = _row(result, model="gemma3-270m", group="all pairs", metric="pivot_share")
    assert (pivot.value, pivot.n) == (pytest.approx(2 / 3), 3)  # of the classified examples
    assert _row(result, model="smollm2-135m-instruct", group="all pairs", metric="pivot_share").value == 0.25
    per_pair = _row(result, model="gemma3-270m", group="fr-en", metric="accuracy")
    assert [per_pair.value, per_pair.lo, per_pair.hi] == CI  # the report's own numbers, passed through


def test_knowledge_barrier_drop_is_paired_over_questions(sweep_dir, tmp_path):
    result = aggregate([sweep_dir], tmp_path / "out", n_resamples=300, seed=3)
    drop = _row(result, metric="barrier_drop")
    diff = np.array([1, 1, 0, 1, 1, 0]) - np.array([0, 1, 0, 0, 1, 0])
    assert (drop.value, drop.lo, drop.hi) == pytest.approx(bootstrap_ci(diff, n_resamples=300, seed=3))
    assert drop.value == pytest.approx(2 / 6) and drop.n == 6 and drop.group == "letter"


def test_phasing_correlation_matches_scipy_with_its_fisher_interval(sweep_dir, tmp_path):
    result = aggregate([sweep_dir], tmp_path / "out", n_resamples=100)
    (c,) = result.correlations
    x, y = np.array(list(PHASING.values())).T
    ref = scipy.stats.pearsonr(x, y)
    ci = ref.confidence_interval(0.95)
    assert c["r"] == pytest.approx(ref.statistic, abs=1e-12)
    assert c["ci"] == pytest.approx([ci.low, ci.high], abs=1e-12)
    assert (c["points"], c["models"], c["target"]) == (6, 2, "first_token")


def test_files_tables_and_plots_are_written(sweep_dir, tmp_path):
    out = tmp_path / "out"
    result = aggregate([sweep_dir], out, n_resamples=100)
    names = {p.name for p in result.files}
    assert names == {"aggregate.csv", "aggregate.md", "correlations.json", "xmrc_f1_vs_phasing.png",
                     "knowledge_barrier_drop.png", "word_translation_models.png"}  # fmt: skip
    for p in result.files:
        assert p.stat().st_size > 0
    with (out / "aggregate.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(result.rows) and set(table[0]) == {
        "experiment", "model", "group", "metric", "value", "lo", "hi", "n", "point"}  # fmt: skip
    md = (out / "aggregate.md").read_text()
    assert "| gemma3-270m | all pairs | 4 |" in md and "## knowledge_barriers" in md
    assert "Pearson r = " in md and "(Fisher z, 95%)" in md
    assert "| wt_gemma3-270m | word_translation | 12.5 |" in md  # the sweep's wall time
    assert "Not aggregated (no extractor for the experiment): mystery (my_study)." in md
    assert result.skipped == ["mystery (my_study)"]
    assert "unfinished" not in {r["point"] for r in result.runs}
    frame = result.to_pandas()
    assert frame.groupby("experiment").size().to_dict()["knowledge_barriers"] == 3


def test_bad_input_is_a_one_line_error(tmp_path):
    with pytest.raises(DataError, match=r"no summary\.json in"):
        aggregate([tmp_path])
    d = tmp_path / "broken"
    d.mkdir()
    (d / "summary.json").write_text("{not json")
    (d / "config.json").write_text('{"experiment": "xmrc"}')
    with pytest.raises(DataError, match=r"broken/summary.json: not JSON"):
        aggregate([d])
    (d / "summary.json").write_text("{}")
    (d / "config.json").unlink()
    with pytest.raises(DataError, match=r"no config\.json: not an xling workdir"):
        aggregate([d])


def test_the_command_line_prints_the_table(sweep_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xling.aggregate", str(sweep_dir), "--bootstrap=50"],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "# Aggregate" in proc.stdout and (sweep_dir / "aggregate/aggregate.csv").is_file()
    proc = subprocess.run([sys.executable, "-m", "xling.aggregate", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {tmp_path / 'nowhere'} is not a directory"

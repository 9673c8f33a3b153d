"""The lens CLI on the embedded model: tables, heatmaps, a (tiny) tuned lens saved and reused."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _run(workdir, *extra):
    cmd = [
        sys.executable,
        "-m",
        "xling.main",
        "--config=experiments/lens.py:runlocal",
        f"--workdir={workdir}",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_lens_cli_tables_heatmap_and_tuned_lens(tmp_path):
    out = _run(tmp_path, "--config.tuned.steps=2", "--config.tuned.layers=9", "--config.tuned.eval_windows=2")
    assert out.returncode == 0, out.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "prompt000_layers.csv").read_text(encoding="utf-8").splitlines()))
    assert {int(r["layer"]) for r in rows} == set(range(19))
    assert {"top1", "top1_prob", "entropy", "kl"} <= set(rows[0])
    assert (tmp_path / "prompt000_heatmap.png").stat().st_size > 10_000
    kl = list(csv.DictReader((tmp_path / "heldout_kl.csv").read_text().splitlines()))
    # Only layer 9 was trained and evaluated (2 steps: the lowering itself is test_tuned_lens's job).
    assert math.isfinite(float(kl[9]["kl_tuned_lens"])) and math.isnan(float(kl[8]["kl_tuned_lens"]))
    assert float(kl[18]["kl_tuned_lens"]) == 0.0 and float(kl[9]["kl_logit_lens"]) > 0
    assert (tmp_path / "tuned_lens").is_dir()
    # Reuse the lens on a long prompt set from the CLI (a tuple field): its heatmap comes in
    # windows of positions instead of failing after the tables were computed.
    long = " ".join(["Das Wasser ist kalt und der Himmel ist blau."] * 8)
    reuse = _run(
        tmp_path / "again",
        f"--config.tuned.load={tmp_path / 'tuned_lens'}",
        f'--config.prompts=("{long}", "kurz")',
        "--config.heatmap_window=40",
    )
    assert reuse.returncode == 0, reuse.stderr[-3000:]
    again = tmp_path / "again"
    n_tokens = len(
        {r["position"] for r in csv.DictReader((again / "prompt000_layers.csv").read_text().splitlines())}
    )
    assert n_tokens > 80
    images = sorted(p.name for p in again.glob("prompt000_heatmap_*.png"))
    assert images == [f"prompt000_heatmap_{i:02d}.png" for i in range(-(-n_tokens // 40))]
    assert (again / "prompt001_heatmap.png").is_file()

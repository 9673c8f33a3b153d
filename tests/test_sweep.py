"""Sweeps: expansion of config-declared sweeps, and real runlocal sweeps on a local Ray instance.

The Ray tests run the word-translation experiment (Gemma 3 270M, runlocal cut to two
concepts) as 4 points plus one that fails; the kill test interrupts a sweep after its first
point and checks that the re-run runs only the rest and aggregates to the same table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ml_collections
import pytest

from xling.sweep import engine, spec
from xling.sweep.spec import SweepError

ROOT = Path(__file__).resolve().parents[1]
WT = f"{ROOT}/experiments/word_translation.py:runlocal"


def _sweep_file(tmp_path: Path, body: str, name: str = "sweep.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def _base(tmp_path, get_sweep: str) -> str:
    """A sweep file whose own config is the word-translation runlocal config."""
    return _sweep_file(
        tmp_path,
        f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("wt", {str(ROOT / "experiments/word_translation.py")!r})
        wt = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(wt)
        get_config = wt.get_config

        def get_sweep(h, config):
            {get_sweep}
    """,
    )


def test_product_expands_every_combination_with_readable_names(tmp_path):
    f = _base(tmp_path, 'return h.product([h.sweep("model.name", ["gemma3-270m", "/m/x.gguf"]), '
                        'h.sweep("prompt.style", ["quoted", "clwtd"])])')  # fmt: skip
    points = spec.expand(f + ":runlocal")
    assert [p.overrides for p in points] == [
        {"model.name": "gemma3-270m", "prompt.style": "quoted"},
        {"model.name": "gemma3-270m", "prompt.style": "clwtd"},
        {"model.name": "/m/x.gguf", "prompt.style": "quoted"},
        {"model.name": "/m/x.gguf", "prompt.style": "clwtd"},
    ]
    assert [p.name for p in points][1:3] == ["name=gemma3-270m_style=clwtd", "name=x.gguf_style=quoted"]
    assert points[0].flags() == ["--config.model.name=gemma3-270m", "--config.prompt.style=quoted"]
    assert all(p.config_file == f + ":runlocal" for p in points)


def test_zip_walks_axes_together_and_chain_concatenates(tmp_path):
    f = _base(tmp_path, """return h.chain([
                h.zip([h.sweep("pairs", ["fr-en", "de-en"]), h.sweep("num_concepts", [2, 3])]),
                h.product([h.fixed("config", "WT"), h.sweep("trace.batch_size", [1])]),
            ])""".replace("WT", WT))  # fmt: skip
    points = spec.expand(f)
    assert [p.overrides for p in points] == [
        {"pairs": "fr-en", "num_concepts": 2},
        {"pairs": "de-en", "num_concepts": 3},
        {"trace.batch_size": 1},
    ]
    assert points[2].config_file == WT and points[2].name == "word_translation.runlocal_batch_size=1"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            'return h.sweep("prompt.stlye", ["quoted"])',
            "no field 'prompt.stlye' (did you mean 'prompt.style'?)",
        ),
        ('return h.sweep("nonsense", [1])', "the config has no field 'nonsense'"),
        ('return h.sweep("num_concepts", ["many"])', "config.num_concepts"),
        (
            'return h.zip([h.sweep("pairs", ["fr-en"]), h.sweep("seed", [1, 2])])',
            "one length, got lengths [1, 2]",
        ),
        ('return h.product([h.sweep("seed", [1]), h.sweep("seed", [2])])', "'seed' is set twice"),
        ('return h.sweep("seed", [1, 1])', "two points are both named 'seed=1'"),
        ('return h.sweep("seed", 3)', "needs a list of values"),
        ("return []", "non-empty list of points"),
    ],
)
def test_bad_definitions_are_one_line_errors(tmp_path, body, error):
    with pytest.raises(SweepError) as e:
        spec.expand(_base(tmp_path, body))
    assert error in str(e.value) and "\n" not in str(e.value)


def test_command_line_overrides_reach_the_sweep_files_points_only(tmp_path):
    f = _base(tmp_path, f'return h.chain([h.sweep("seed", [1]), h.fixed("config", "{WT}")])')
    own, other = spec.expand(f, {"num_concepts": 2})
    assert own.overrides == {"num_concepts": 2, "seed": 1}
    assert other.overrides == {}
    with pytest.raises(SweepError, match="set both by the sweep and on the command line"):
        spec.expand(f, {"seed": 5})


def test_a_file_without_get_sweep_is_refused(tmp_path):
    with pytest.raises(SweepError, match="declares no sweep"):
        spec.expand(str(ROOT / "experiments/xmrc.py"))


def test_resources_take_declared_values_then_flags():
    flags = engine.default_config().resources
    assert engine.Resources.resolve({}, flags) == engine.Resources()
    flags.num_gpus = 1.0
    flags.custom = "{'TPU': 4}"
    r = engine.Resources.resolve({"num_cpus": 4, "num_gpus": 8, "hosts": 2}, flags)
    assert (r.num_cpus, r.num_gpus, r.hosts, dict(r.custom)) == (4, 1.0, 2, {"TPU": 4})
    assert r.bundle() == {"CPU": 4, "TPU": 4, "GPU": 1.0}
    with pytest.raises(Exception, match="unknown resources"):
        engine.Resources.resolve({"gpus": 1}, engine.default_config().resources)
    bad = engine.default_config().resources
    bad.custom = "TPU=4"
    with pytest.raises(Exception, match="dict literal"):
        engine.Resources.resolve({}, bad)


def test_the_models_sweep_covers_every_registered_model_and_local_paths():
    from xling import registry

    points = spec.expand(
        str(ROOT / "experiments/sweeps/models.py") + ":runlocal", {"models": "/ckpt/mine.gguf"}
    )
    models = [*sorted(registry.REGISTRY), "/ckpt/mine.gguf"]
    assert len(points) == 3 * len(models)
    wt = [p.overrides["model.name"] for p in points if "word_translation" in p.config_file]
    assert wt == models
    assert {p.config_file.split("/")[-1] for p in points} == {
        "word_translation.py:runlocal", "xmrc_attribution.py:runlocal", "knowledge_barriers.py:runlocal"
    }  # fmt: skip


# ---- real sweeps on a local Ray instance -------------------------------------------------

# Four points: two pairs x two prompt styles of a word-translation runlocal cut to 2 concepts,
# plus a point whose lexicon does not exist: it fails at start, the others still run.
_POINTS = """return h.chain([
                h.product([h.sweep("pairs", ["fr-en", "de-en"]), h.sweep("prompt.names", ["native", "english"])]),
                h.fixed("data.lexicon", "/nonexistent/lexicon.txt"),
            ])"""
_SMALL = ["--config.num_concepts=2", "--config.prompt.num_demo_sets=1", "--config.trace.num_distractors=1",
          "--config.bootstrap=50", "--config.progress=False"]  # fmt: skip


def _run_sweep(tmp_path, workdir: Path, *extra: str, wait: bool = True):
    f = _base(tmp_path, _POINTS)
    cmd = [
        sys.executable,
        "-m",
        "xling.sweep",
        f"--config={f}:runlocal",
        f"--workdir={workdir}",
        *_SMALL,
        *extra,
    ]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    if not wait:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    proc = _run_sweep(tmp, tmp / "runs")
    return tmp / "runs", proc, tmp


@pytest.mark.slow
@pytest.mark.memory_heavy(gb=6)  # two points at once and Ray: 5 GB measured
def test_a_runlocal_sweep_runs_every_point_and_isolates_the_failing_one(finished_sweep):
    workdir, proc, _ = finished_sweep
    assert proc.returncode == 1, proc.stdout + proc.stderr
    status = json.loads((workdir / "_sweep/status.json").read_text())
    good = [n for n in status if "lexicon" not in n]
    assert len(good) == 4 and all(status[n]["state"] == "done" for n in good)
    for name in good:
        summary = json.loads((workdir / name / "summary.json").read_text())
        assert list(summary["pairs"]) == [name.split("_")[0].split("=")[1]]
    (bad,) = [n for n in status if "lexicon" in n]
    assert status[bad]["state"] == "failed" and status[bad]["rc"] == 2
    log = Path(status[bad]["log"]).read_text()
    assert "/nonexistent/lexicon.txt" in log  # the point's own one-line error, in its log
    assert f"{bad}: FAILED (exit status 2)" in proc.stdout and "nonexistent" in proc.stdout
    assert "1 point(s) failed" in proc.stderr and bad in proc.stderr
    points = json.loads((workdir / "_sweep/points.json").read_text())
    assert points[good[0]]["overrides"]["num_concepts"] == 2  # the command line's overrides, recorded


@pytest.mark.slow
@pytest.mark.memory_heavy(gb=6)  # two points at once and Ray: 5 GB measured
def test_a_killed_sweep_reruns_only_unfinished_points_and_aggregates_the_same(tmp_path, finished_sweep):
    from xling.aggregate import aggregate

    reference, _, _ = finished_sweep
    workdir = tmp_path / "runs"
    proc = _run_sweep(tmp_path, workdir, "--sweep.max_concurrent=1", wait=False)
    deadline = time.time() + 600
    while not list((workdir / "_sweep").glob("*.done.json")) and time.time() < deadline:
        time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert "interrupted: finished points are kept" in out, out
    first = {p.name: p.stat().st_mtime for p in (workdir / "_sweep").glob("*.done.json")}
    assert 1 <= len(first) < 4
    time.sleep(2)  # no orphaned point process keeps running after the sweep is gone
    assert not [line for line in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
                .splitlines() if f"--workdir={workdir}/" in line]  # fmt: skip

    again = _run_sweep(tmp_path, workdir)
    assert again.returncode == 1  # the failing point still fails
    assert f"{len(first)} finished earlier" in again.stdout
    assert {
        p.name: p.stat().st_mtime for p in (workdir / "_sweep").glob("*.done.json") if p.name in first
    } == first
    assert len(list((workdir / "_sweep").glob("*.done.json"))) == 4
    a = aggregate([reference], tmp_path / "a", n_resamples=50, plots=False)
    b = aggregate([workdir], tmp_path / "b", n_resamples=50, plots=False)
    assert (tmp_path / "a/aggregate.csv").read_text() == (tmp_path / "b/aggregate.csv").read_text()
    assert len(a.rows) == len(b.rows) == 4 * (4 + 4)  # 4 points x (one pair + all pairs) x 4 metrics


@pytest.mark.slow
@pytest.mark.memory_heavy(gb=6)  # two points at once and Ray: 5 GB measured
def test_dry_run_lists_points_and_their_state(tmp_path, finished_sweep):
    workdir, _, sweep_tmp = finished_sweep
    proc = _run_sweep(sweep_tmp, workdir, "--dry_run")  # the same sweep file: the same commands
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"5 points into {workdir}:"
    assert sum("[done]" in x for x in lines) == 4 and sum("[to run]" in x for x in lines) == 1
    assert "-m xling.main --config=" in lines[1]


def test_a_point_process_dies_with_its_parent(tmp_path):
    """PR_SET_PDEATHSIG: when the Ray worker running a point is killed, so is the point."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from xling.sweep.engine import Launch, run_process
        run_process(Launch([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(300)"],
                           {str(tmp_path / "log.txt")!r}, {str(tmp_path)!r}))
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    log = tmp_path / "log.txt"
    while not (log.exists() and "up" in log.read_text()):
        assert time.time() < deadline
        time.sleep(0.2)
    child = int(
        subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()[0]
    )
    parent.kill()
    parent.wait()
    for _ in range(50):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the point process outlived its parent")


def test_config_value_round_trip_through_flags():
    c = ml_collections.ConfigDict({"a": (1, 2), "b": 0.5, "c": True, "d": "x,y"})
    assert [spec.flag_value(c[k]) for k in "abcd"] == ["(1, 2)", "0.5", "True", "x,y"]

"""The training loop: steps, periodic checkpoints and evaluation hooks, metrics to a CSV, and
exact resume.

`train(...)` runs `steps` optimizer steps. The data is a function of the step index
(`batches(step) -> Batch` of [A, B, T]), so the position in the data is the step and a resumed
run reads exactly the batches an uninterrupted one would (the grain pipelines of
`xling.train.data` are indexed the same way). With a `workdir`, checkpoints go to
`workdir/checkpoints` every `checkpoint_every` steps and at the end, `metrics.csv` gets one
row per step (written with each checkpoint) and `workdir/tensorboard` the same scalars (loss,
tokens, tokens/s, grad_norm, learning_rate) as TensorBoard event files; a re-run with the same workdir restores the newest checkpoint, drops metric rows
after it, and continues, so an interrupted and resumed run has the same loss curve as an
uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from xling.errors import DataError
from xling.partitioning import Partitioning
from xling.train.checkpoint import Checkpointer
from xling.train.loss import Batch
from xling.train.optim import OptimizerConfig, make_optimizer, schedule
from xling.train.step import TrainState, init_state, make_train_step, model_of
from xling.workdir import atomic_write

log = logging.getLogger(__name__)
COLUMNS = ("step", "loss", "tokens", "grad_norm", "learning_rate", "seconds")
Hook = Callable[[int, object], None]  # (step, model) -> None


def _read_metrics(path: Path, upto: int) -> list[dict]:
    if not path.is_file():
        return []
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    rows = [{k: int(v) if k == "step" else float(v) for k, v in r.items()} for r in rows]
    return [r for r in rows if r["step"] <= upto]


def _write_metrics(path: Path, rows: Sequence[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, buf.getvalue())


_STEPS: dict = {}


def _step_for(cfg, graphdef, opt, optimizer: OptimizerConfig, partitioning):
    """One jitted step per (model config, optimizer config, partitioning) in a process, so
    chained runs (an experiment's several fine-tunings) compile once. Models of one config
    have the same graph, so the step made with the first one's graphdef serves them all."""
    key = (cfg, optimizer, id(partitioning) if partitioning is not None else None)
    if key not in _STEPS:
        if len(_STEPS) >= 4:
            _STEPS.pop(next(iter(_STEPS)))
        _STEPS[key] = make_train_step(graphdef, opt, schedule(optimizer), partitioning=partitioning)
    return _STEPS[key]


def train(
    model,
    batches: Callable[[int], Batch],
    *,
    steps: int,
    optimizer: OptimizerConfig,
    workdir: str | Path | None = None,
    checkpoint_every: int = 100,
    keep: int = 3,
    partitioning: Partitioning | None = None,
    hooks: Sequence[tuple[int, Hook]] = (),
    progress: bool = False,
    stop_after: int | None = None,
) -> tuple[TrainState, list[dict]]:
    """Train `model` (its weights are the starting point) and return the final state and
    every step's metrics. hooks: (every N steps, fn(step, model)), e.g. an evaluation.
    stop_after: leave after that many steps of this call (as an interrupted run would)."""
    from tqdm.auto import tqdm

    opt = make_optimizer(optimizer)
    graphdef, state = init_state(model, opt)
    step_fn = _step_for(model.cfg, graphdef, opt, optimizer, partitioning)
    ckpt, rows, csv_path, board = None, [], None, None
    if workdir is not None:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        ckpt = Checkpointer(workdir / "checkpoints", keep=keep)
        csv_path = workdir / "metrics.csv"
        from xling.train.metrics import TensorBoardWriter

        board = TensorBoardWriter(workdir / "tensorboard")
        if ckpt.latest() is not None:
            state, _extra = ckpt.restore(state, model.cfg)
            rows = _read_metrics(csv_path, int(state.step))
            log.info("resumed from step %d", int(state.step))
    start = int(state.step)
    if start > steps:  # a later run's checkpoint: its weights are not the ones asked for
        raise DataError(f"{workdir}: the checkpoint is at step {start}, past the {steps} steps asked for")
    done_here = 0
    with tqdm(total=steps, initial=start, desc="train", unit="step", disable=not progress) as bar:
        for step in range(start, steps):
            t0 = time.perf_counter()
            state, m = step_fn(state, batches(step))
            m = jax.device_get(m)
            rows.append({"step": step + 1, **{k: float(np.asarray(m[k])) for k in COLUMNS[1:5]},
                         "seconds": round(time.perf_counter() - t0, 4)})  # fmt: skip
            bar.update(1)
            bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}")
            if board is not None:
                r = rows[-1]
                board.write_scalars(r["step"], {k: r[k] for k in COLUMNS[1:5]}
                                    | {"tokens_per_second": r["tokens"] / max(r["seconds"], 1e-9)})  # fmt: skip
            done = step + 1
            if ckpt is not None and (done % checkpoint_every == 0 or done == steps):
                ckpt.save(state, model.cfg, {"data_position": done})
                _write_metrics(csv_path, rows)
            for every, hook in hooks:
                if done % every == 0 or done == steps:
                    hook(done, model_of(graphdef, state))
            done_here += 1
            if stop_after is not None and done_here >= stop_after:
                break
    if ckpt is not None:
        ckpt.close()
        board.close()
    return state, rows

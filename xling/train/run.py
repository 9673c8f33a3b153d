"""One training run from a config block: the `train` block an experiment config carries
(steps, batch, accumulation, row length, optimizer, checkpointing), and `fit`, which trains a
model on prepared rows in a workdir and returns the trained model.

A finished run is not recomputed: `fit` on the same workdir restores the last checkpoint
(its step equals `steps`) and returns that model, so an experiment can chain runs (fine-tune,
then learn new facts from the fine-tuned weights) and resume anywhere in the chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from xling.errors import DataError
from xling.partitioning import Partitioning
from xling.train import data, loop
from xling.train.optim import OptimizerConfig


def train_config(**overrides) -> ml_collections.ConfigDict:
    """The `train` block (defaults: the reference's optimizer; `optimizer.total_steps` 0 means
    `steps`, so the schedule ends with the run)."""
    c = ml_collections.ConfigDict()
    c.steps = 100
    c.batch_size = 8  # rows per micro-batch
    c.accumulation = 1  # micro-batches per optimizer step
    c.length = 256  # tokens per row
    c.seed = 0  # shuffling of the rows
    c.checkpoint_every = 50
    c.keep = 1  # checkpoints kept (each holds parameters and both AdamW moments)
    c.optimizer = ml_collections.ConfigDict(dataclasses.asdict(OptimizerConfig()))
    c.optimizer.total_steps = 0
    for key, value in overrides.items():
        if key == "optimizer":
            c.optimizer.update(value)
        else:
            c[key] = value
    return c


def optimizer_of(block: ml_collections.ConfigDict) -> OptimizerConfig:
    values = dict(block.optimizer.to_dict())
    if not values.get("total_steps"):
        values["total_steps"] = block.steps
    return OptimizerConfig.from_mapping(values)


def check(block: ml_collections.ConfigDict, what: str = "train") -> None:
    """Fail before any work on a bad block (one line naming the field)."""
    for field in ("steps", "batch_size", "accumulation", "length", "checkpoint_every", "keep"):
        v = block.get(field)
        if not isinstance(v, int) or v < 1:
            raise DataError(f"config.{what}.{field} must be an integer >= 1, got {v!r}")
    optimizer_of(block)


def copy_model(model):
    """An independent copy (training donates the model's buffers)."""
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree.map(jnp.copy, state))


def fit(
    model,
    rows: Sequence[dict],
    block: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    partitioning: Partitioning | None = None,
    hooks: Sequence[tuple[int, loop.Hook]] = (),
    progress: bool = True,
    copy: bool = True,
):
    """Train (a copy of, unless `copy=False`) `model` on `rows` as `block` says; returns
    (trained model, per-step metrics)."""
    check(block)
    feed = data.batches(rows, batch_size=block.batch_size, accumulation=block.accumulation, seed=block.seed)
    start = copy_model(model) if copy else model
    graphdef = nnx.split(start, nnx.Param)[0]
    state, metrics = loop.train(
        start, feed, steps=block.steps, optimizer=optimizer_of(block), workdir=workdir,
        checkpoint_every=block.checkpoint_every, keep=block.keep, partitioning=partitioning,
        hooks=hooks, progress=progress,
    )  # fmt: skip
    from xling.train.step import model_of

    return model_of(graphdef, state), metrics

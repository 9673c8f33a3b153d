"""Optimizers from a strict config: AdamW (optax) with warm-up and decay, weight decay on
matrices only, and global-norm gradient clipping.

Every field of `OptimizerConfig` is explicit; an unknown field is a one-line error naming it.
Weight decay skips vectors (norm scales, biases): a parameter decays if it has at least two
dimensions, the usual rule (the embedding table and stacked matrices decay)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import optax

from xling.errors import DataError

SCHEDULES = ("cosine", "linear", "constant")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    learning_rate: float = 2e-5
    warmup_steps: int = 0
    total_steps: int = 1000  # the schedule's length (decay ends here)
    schedule: str = "cosine"  # after warm-up: cosine or linear to `end_factor * lr`, or constant
    end_factor: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.01
    clip_norm: float | None = 1.0  # global gradient norm; None = no clipping

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise DataError(
                f"optimizer.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if self.learning_rate <= 0 or self.total_steps < 1 or self.warmup_steps < 0:
            raise DataError(
                "optimizer: learning_rate > 0, total_steps >= 1 and warmup_steps >= 0 are required"
            )
        if self.warmup_steps > self.total_steps:
            raise DataError(f"optimizer: warmup_steps {self.warmup_steps} > total_steps {self.total_steps}")

    @classmethod
    def from_mapping(cls, values: Mapping) -> OptimizerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"unknown optimizer field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**dict(values))


def schedule(cfg: OptimizerConfig) -> optax.Schedule:
    peak, end = cfg.learning_rate, cfg.learning_rate * cfg.end_factor
    decay_steps = max(cfg.total_steps - cfg.warmup_steps, 1)
    if cfg.schedule == "constant":
        after = optax.constant_schedule(peak)
    elif cfg.schedule == "linear":
        after = optax.linear_schedule(peak, end, decay_steps)
    else:
        after = optax.cosine_decay_schedule(peak, decay_steps, alpha=cfg.end_factor)
    if not cfg.warmup_steps:
        return after
    warm = optax.linear_schedule(0.0, peak, cfg.warmup_steps)
    return optax.join_schedules([warm, after], [cfg.warmup_steps])


def decay_mask(params) -> object:
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(cfg: OptimizerConfig) -> optax.GradientTransformation:
    adamw = optax.adamw(schedule(cfg), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay,
                        mask=decay_mask)  # fmt: skip
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), adamw) if cfg.clip_norm else adamw

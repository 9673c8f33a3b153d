"""Train checkpoints with orbax: atomic (orbax writes to a temporary directory and renames),
keep-N, asynchronous, and exact to resume: the model parameters, the optimizer state and the
step, plus a JSON record of everything else the run needs to continue (the data position, the
RNG seed, a fingerprint of the model config).

A checkpoint written for another model is refused with a one-line error naming what differs,
before any array is read.
"""

from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp

from xling.errors import XlingError
from xling.models.config import ModelConfig
from xling.train.step import TrainState

# The fields that decide the parameter shapes; a checkpoint must match them.
_SHAPE_FIELDS = ("family", "vocab_size", "d_model", "num_layers", "num_heads", "num_kv_heads", "head_dim",
                 "mlp_dim", "mlp_type", "norm_type", "tie_embeddings", "position_type")  # fmt: skip


class CheckpointError(XlingError):
    """A checkpoint that cannot be resumed here."""


def fingerprint(cfg: ModelConfig) -> dict:
    return {k: getattr(cfg, k) for k in _SHAPE_FIELDS} | {"param_dtype": cfg.param_dtype}


class Checkpointer:
    """`directory/{step}/` checkpoints; the newest `keep` are kept."""

    def __init__(self, directory: str | Path, *, keep: int = 3, asynchronous: bool = True):
        self.directory = Path(directory).expanduser().resolve()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=asynchronous)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state: TrainState, cfg: ModelConfig, extra: dict) -> None:
        """Start saving at `state.step` (returns before the write ends when asynchronous)."""
        meta = {"model": fingerprint(cfg), **extra}
        self._manager.save(
            int(state.step),
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        )

    def restore(self, like: TrainState, cfg: ModelConfig, step: int | None = None) -> tuple[TrainState, dict]:
        """The checkpoint at `step` (default the newest), restored with the shardings of `like`."""
        step = self.latest() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
        want, have = fingerprint(cfg), meta.get("model", {})
        diff = [k for k in want if have.get(k) != want[k]]
        if diff:
            k = diff[0]
            raise CheckpointError(
                f"{self.directory}/{step} is a checkpoint of another model ({k} {have.get(k)!r}, this model {want[k]!r})"
            )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
        ).state
        return restored, {k: v for k, v in meta.items() if k != "model"}

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

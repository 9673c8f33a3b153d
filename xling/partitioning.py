"""Logical axis names and activation constraints: the model-free half of sharding.

Parameters carry logical axes (`embed`, `heads`, `mlp`, ...; stacked blocks add
`layers`), and activations are constrained by the same names inside the jitted
functions. Rules, kept in the experiment config, map each logical axis to mesh
axes; a dimension its mesh axes do not divide is replicated, with a warning.
Models import only this module; meshes, placement and sharded calls live in
`xling.sharding`, which builds on the models.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Iterator, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from xling.errors import XlingError

log = logging.getLogger(__name__)

MESH_AXES = ("data", "fsdp", "tensor")
LOGICAL_AXES = ("batch", "length", "embed", "vocab", "heads", "kv_heads", "head_dim", "mlp", "layers")
Rules = Sequence[tuple[str, str | Sequence[str] | None]]

# Data parallel over data+fsdp; FSDP shards weights along embed; tensor parallel
# splits heads, MLP and vocabulary. With fsdp = tensor = 1 this is plain data parallelism.
DEFAULT_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("embed", "fsdp"),
    ("vocab", "tensor"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("head_dim", None),
    ("mlp", "tensor"),
    ("layers", None),
)


class ShardingError(XlingError):
    """A mesh or rule set that cannot be honoured."""


def validate_rules(rules: Rules, mesh: Mesh) -> dict[str, tuple[str, ...]]:
    """Rules as {logical axis: mesh axes}; unknown names on either side are errors."""
    table: dict[str, tuple[str, ...]] = {}
    for logical, physical in rules:
        if logical not in LOGICAL_AXES:
            raise ShardingError(
                f"sharding rule for unknown logical axis {logical!r} (known: {', '.join(LOGICAL_AXES)})"
            )
        targets = () if physical is None else (physical,) if isinstance(physical, str) else tuple(physical)
        for axis in targets:
            if axis not in mesh.axis_names:
                raise ShardingError(
                    f"sharding rule {logical!r} -> {axis!r} names a mesh axis the mesh lacks "
                    f"(mesh axes: {', '.join(mesh.axis_names)})"
                )
        table[logical] = targets
    return table


def spec_for(
    logical: Sequence[str | None], shape: Sequence[int], mesh: Mesh, rules: Rules, name: str = ""
) -> P:
    """PartitionSpec of one array; a dimension its mesh axes do not divide is replicated."""
    table = validate_rules(rules, mesh)
    used: set[str] = set()
    out = []
    for axis, size in zip(logical, shape, strict=True):
        targets = tuple(a for a in table.get(axis, ()) if a not in used and mesh.shape[a] > 1) if axis else ()
        ways = math.prod(mesh.shape[a] for a in targets)
        if targets and size % ways:
            log.warning(
                "%s: dimension %r of size %d does not divide mesh axes %s (%d ways); replicating it",
                name or "array", axis, size, targets, ways,
            )  # fmt: skip
            targets = ()
        used.update(targets)
        out.append(targets[0] if len(targets) == 1 else (targets or None))
    return P(*out)


def param_logical_axes(model_or_state) -> dict[str, tuple[str, ...]]:
    """{"blocks/attn/q": ("layers", "embed", "heads", "head_dim"), ...} from the params' metadata."""
    state = model_or_state if isinstance(model_or_state, nnx.State) else nnx.state(model_or_state, nnx.Param)
    out = {}
    for path, var in nnx.to_flat_state(state):
        axes = tuple(var.get_metadata()["logical_axes"])
        shape = var.get_value().shape
        if len(shape) == len(axes) + 1:  # stacked over layers by nnx.vmap
            axes = ("layers", *axes)
        out["/".join(map(str, path))] = axes
    return out


# ---- activation constraints -------------------------------------------------------

_ACTIVE: list[tuple[Mesh, Rules]] = []


@contextlib.contextmanager
def activation_sharding(mesh: Mesh, rules: Rules) -> Iterator[None]:
    """While active (at trace time), `constrain` pins activations to the rules."""
    validate_rules(rules, mesh)
    _ACTIVE.append((mesh, rules))
    try:
        yield
    finally:
        _ACTIVE.pop()


def constrain(x: jax.Array, logical: Sequence[str | None]) -> jax.Array:
    """`with_sharding_constraint` by logical names; identity outside `activation_sharding`."""
    if not _ACTIVE:
        return x
    mesh, rules = _ACTIVE[-1]
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec_for(logical, x.shape, mesh, rules)))


@dataclasses.dataclass(frozen=True)
class Partitioning:
    """A mesh and its rules as one hashable value, so jitted functions can take it as a
    static argument and enter `activation_sharding` while they trace."""

    mesh: Mesh
    rules: tuple[tuple[str, str | tuple[str, ...] | None], ...]

    @classmethod
    def of(cls, mesh: Mesh, rules: Rules) -> Partitioning:
        frozen = tuple((a, tuple(p) if isinstance(p, list | tuple) else p) for a, p in rules)
        validate_rules(frozen, mesh)
        return cls(mesh, frozen)

    @property
    def size(self) -> int:
        return self.mesh.size

    def activate(self):
        return activation_sharding(self.mesh, self.rules)

    def sharding(self, logical: Sequence[str | None], shape: Sequence[int]) -> NamedSharding:
        return NamedSharding(self.mesh, spec_for(logical, shape, self.mesh, self.rules))

    def put(self, x, logical: Sequence[str | None]) -> jax.Array:
        """Place a host array by logical axes (e.g. a batch of token ids on ("batch", "length"))."""
        x = np.asarray(x)
        return jax.device_put(x, self.sharding(logical, x.shape))


def activate(part: Partitioning | None):
    """`part.activate()`, or a no-op context for single-device runs."""
    return part.activate() if part is not None else contextlib.nullcontext()

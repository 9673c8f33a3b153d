"""Sharding by logical axis names (MaxText / big_vision style).

Every parameter carries logical axes (`embed`, `heads`, `mlp`, ...; stacked
blocks add `layers`), and activations are constrained with the same names.
Rules, kept in the config, map each logical axis to mesh axes. A dimension
that does not divide its mesh axes is replicated instead, with a warning.

    mesh = make_mesh({"data": 2, "fsdp": 1, "tensor": 4})
    model = xling.load("gemma3-270m", place=placer(mesh, DEFAULT_RULES)).model
    forward = sharded_forward(model, mesh, DEFAULT_RULES, return_hidden=True)
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from xling.models.decoder import DecoderOutput
from xling.partitioning import (  # noqa: F401 (re-exported: the public sharding API)
    DEFAULT_RULES,
    LOGICAL_AXES,
    MESH_AXES,
    Partitioning,
    Rules,
    ShardingError,
    activation_sharding,
    constrain,
    param_logical_axes,
    spec_for,
    validate_rules,
)

log = logging.getLogger(__name__)


def default_config() -> ml_collections.ConfigDict:
    """The `mesh` block of an experiment config: axis sizes (-1: the remaining devices) and rules."""
    cfg = ml_collections.ConfigDict()
    cfg.axes = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
    # A tuple of (logical axis, mesh axes) pairs, settable from the CLI as a Python literal.
    cfg.rules = tuple(DEFAULT_RULES)
    # Multi-host: set coordinator_address, num_processes and process_id (or leave
    # them None on TPU pods and Cloud GPU clusters, where JAX discovers them).
    cfg.distributed = False
    cfg.coordinator_address = ml_collections.FieldReference(None, field_type=str)
    cfg.num_processes = ml_collections.FieldReference(None, field_type=int)
    cfg.process_id = ml_collections.FieldReference(None, field_type=int)
    return cfg


def mesh_from_config(cfg: ml_collections.ConfigDict) -> tuple[Mesh, Rules]:
    """The mesh and validated rules of a config's mesh block (see `default_config`)."""
    initialize_distributed(cfg)
    mesh = make_mesh(dict(cfg.axes))
    rules = [(logical, tuple(p) if isinstance(p, list) else p) for logical, p in cfg.rules]
    validate_rules(rules, mesh)
    return mesh, rules


def initialize_distributed(cfg: ml_collections.ConfigDict) -> None:
    """`jax.distributed.initialize` from the config's mesh block; a no-op unless enabled."""
    if not cfg.get("distributed", False):
        return
    jax.distributed.initialize(
        coordinator_address=cfg.get("coordinator_address"),
        num_processes=cfg.get("num_processes"),
        process_id=cfg.get("process_id"),
    )


def make_mesh(axes: dict[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A mesh with the named axis sizes; one size may be -1 (all remaining devices)."""
    devices = list(jax.devices() if devices is None else devices)
    names, sizes = list(axes), list(axes.values())
    if sizes.count(-1) > 1:
        raise ShardingError(f"at most one mesh axis may be -1, got {dict(axes)}")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if len(devices) % known:
            raise ShardingError(f"{len(devices)} devices do not divide into mesh {dict(axes)}")
        sizes[sizes.index(-1)] = len(devices) // known
    if math.prod(sizes) != len(devices):
        raise ShardingError(
            f"mesh {dict(zip(names, sizes, strict=True))} needs {math.prod(sizes)} devices, have {len(devices)}"
        )
    return Mesh(np.asarray(devices).reshape(sizes), tuple(names))


def placer(mesh: Mesh, rules: Rules):
    """A `place` callback for the loaders: each device receives only its own shard."""

    def place(path: str, host: np.ndarray, logical: Sequence[str]) -> jax.Array:
        sharding = NamedSharding(mesh, spec_for(logical, host.shape, mesh, rules, path))
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return place


def shard_params(model, mesh: Mesh, rules: Rules):
    """Move an already-built model's parameters onto the mesh (in place) and return it."""
    axes = param_logical_axes(model)
    state = nnx.state(model, nnx.Param)
    for path, var in nnx.to_flat_state(state):
        key = "/".join(map(str, path))
        value = var.get_value()
        var.set_value(
            jax.device_put(value, NamedSharding(mesh, spec_for(axes[key], value.shape, mesh, rules, key)))
        )
    nnx.update(model, state)
    return model


def sharded_forward(model, mesh: Mesh, rules: Rules, *, return_hidden: bool = False, return_logits=True):
    """A jitted `(tokens, mask) -> DecoderOutput` with explicit input and output shardings;
    the batch is split over the data axes. Compiled once per input shape."""
    graphdef, state = nnx.split(model)
    state_shardings = jax.tree.map(lambda a: a.sharding, state)
    cfg = model.cfg

    def run(state, tokens, mask):
        with activation_sharding(mesh, rules):
            module = nnx.merge(graphdef, state)
            return module(tokens, mask, return_hidden=return_hidden, return_logits=return_logits)

    @functools.lru_cache(maxsize=8)
    def compiled(b: int, t: int):
        batch = NamedSharding(mesh, spec_for(("batch", "length"), (b, t), mesh, rules))
        named = lambda axes, shape: NamedSharding(mesh, spec_for(axes, shape, mesh, rules))  # noqa: E731
        logits = hidden = None
        if return_logits:
            logits = named(
                ("batch", "length", "vocab"), (b, 1 if return_logits == "last" else t, cfg.vocab_size)
            )
        if return_hidden:
            hidden = named(("layers", "batch", "length", "embed"), (cfg.num_layers + 1, b, t, cfg.d_model))
        out = DecoderOutput(logits=logits, hidden_states=hidden, cache=None)
        return batch, jax.jit(run, in_shardings=(state_shardings, batch, batch), out_shardings=out)

    def call(tokens, mask=None) -> DecoderOutput:
        tokens = np.asarray(tokens)
        mask = np.ones(tokens.shape, bool) if mask is None else np.asarray(mask, bool)
        batch, fn = compiled(*tokens.shape)
        return fn(state, jax.device_put(tokens, batch), jax.device_put(mask, batch))

    return call

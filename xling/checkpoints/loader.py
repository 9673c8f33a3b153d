"""Fill a Decoder's parameters from any tensor source through a key map.

Parameters are built one at a time in host memory (stacked layers slice by
slice) and handed to JAX, so peak host memory stays near one copy of the
weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import jax
import numpy as np
from flax import nnx

from xling.checkpoints.keymap import TRANSFORMS, KeyMap
from xling.errors import CheckpointError
from xling.models.config import ModelConfig
from xling.models.decoder import Decoder


class TensorSource(Protocol):
    path: object

    def names(self) -> list[str]: ...

    def shape(self, name: str) -> tuple[int, ...]: ...

    def read(self, name: str) -> np.ndarray: ...


Placer = Callable[[str, np.ndarray], jax.Array]


def abstract_model(cfg: ModelConfig) -> tuple[nnx.GraphDef, nnx.State]:
    """The model's graph and its state of ShapeDtypeStructs (allocates nothing)."""
    return nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))


def _source_shape(transform: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    return TRANSFORMS[transform].inverse(np.zeros(shape, np.float32)).shape


def _get(tree: dict, path: str):
    node = tree
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def _set(tree: dict, path: str, value) -> None:
    *parents, leaf = path.split("/")
    node = tree
    for part in parents:
        node = node[part]
    node[leaf] = value


def _flat_paths(tree: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out.extend(_flat_paths(value, path + "/") if isinstance(value, dict) else [path])
    return out


def load_decoder(
    cfg: ModelConfig, source: TensorSource, keymap: KeyMap, place: Placer | None = None
) -> Decoder:
    """Build a Decoder from `source`; every param must be covered and every tensor used."""
    graphdef, state = abstract_model(cfg)
    shapes = nnx.to_pure_dict(state)
    plan: dict[str, list[tuple[str, int | None, str]]] = {}
    for name, target, layer, transform in keymap.expand(cfg.num_layers):
        plan.setdefault(target, []).append((name, layer, transform))

    available = set(source.names())
    wanted = {name for entries in plan.values() for name, _, _ in entries}
    missing = sorted(wanted - available)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(f"{source.path}: missing tensor {missing[0]!r}{more}")
    extra = sorted(available - wanted)
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise CheckpointError(f"{source.path}: unexpected tensor {extra[0]!r}{more} (config mismatch?)")
    unmapped = sorted(set(_flat_paths(shapes)) - set(plan))
    if unmapped:
        raise CheckpointError(f"no key-map rule fills parameter {unmapped[0]!r}")

    place = place or (lambda path, array: jax.device_put(array))
    params: dict = jax.tree.map(lambda x: None, shapes)
    for target, entries in plan.items():
        try:
            spec = _get(shapes, target)
        except KeyError:
            raise CheckpointError(f"key map names parameter {target!r}, which this model lacks") from None
        host = np.empty(spec.shape, dtype=spec.dtype)
        for name, layer, transform in entries:
            want = spec.shape[1:] if layer is not None else spec.shape
            expected = _source_shape(transform, want)
            found = tuple(source.shape(name))
            if found != expected:
                raise CheckpointError(
                    f"{source.path}: tensor {name!r} has shape {found}, expected {expected}"
                )
            value = TRANSFORMS[transform].forward(source.read(name), want)
            if layer is None:
                host[...] = value
            else:
                host[layer] = value
        _set(params, target, place(target, host))
        del host

    nnx.replace_by_pure_dict(state, params)
    return nnx.merge(graphdef, state)


def export_tensors(model: Decoder, keymap: KeyMap) -> dict[str, np.ndarray]:
    """The inverse of `load_decoder`: checkpoint-named tensors in checkpoint orientation."""
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    out = {}
    for name, target, layer, transform in keymap.expand(model.cfg.num_layers):
        value = np.asarray(_get(params, target), dtype=np.float32)
        out[name] = TRANSFORMS[transform].inverse(value if layer is None else value[layer])
    return out

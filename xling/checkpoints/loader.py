"""Fill a Decoder's parameters from any tensor source through a key map.

Each parameter is built in host memory (stacked layers slice by slice) and
handed to `place` as soon as it is complete, so peak host memory stays near
one copy of the weights.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Protocol

import jax
import numpy as np
from flax import nnx

from xling.errors import CheckpointError
from xling.models.config import ModelConfig
from xling.models.decoder import Decoder
from xling.models.keymap import TRANSFORMS, KeyMap
from xling.partitioning import param_logical_axes


class TensorSource(Protocol):
    path: object

    def names(self) -> list[str]: ...

    def shape(self, name: str) -> tuple[int, ...]: ...

    def read(self, name: str) -> np.ndarray: ...


# place(param path, host array, logical axes) -> device array (see xling.sharding.placer)
Placer = Callable[[str, np.ndarray, tuple[str, ...]], jax.Array]


def abstract_model(cfg: ModelConfig) -> tuple[nnx.GraphDef, nnx.State]:
    """The model's graph and its state of ShapeDtypeStructs (allocates nothing)."""
    return nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))


def _source_shape(transform: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    zeros = tuple(np.zeros(s, np.float32) for s in shapes)
    return TRANSFORMS[transform].inverse(zeros if len(zeros) > 1 else zeros[0]).shape


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


def _first(names: list[str]) -> str:
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return f"{names[0]!r}{more}"


def load_decoder(
    cfg: ModelConfig,
    source: TensorSource,
    keymap: KeyMap,
    place: Placer | None = None,
    ignore: Iterable[str] = (),
) -> Decoder:
    """Build a Decoder from `source`: every param must be filled and every tensor used,
    except tensors matching an `ignore` regex (buffers such as GPT-2's causal mask)."""
    graphdef, state = abstract_model(cfg)
    shapes = nnx.to_pure_dict(state)
    plan = list(keymap.expand(cfg.num_layers))
    ignored = [re.compile(p) for p in ignore]
    available = {n for n in source.names() if not any(p.fullmatch(n) for p in ignored)}
    wanted = {name for name, *_ in plan}
    if missing := sorted(wanted - available):
        raise CheckpointError(f"{source.path}: missing tensor {_first(missing)}")
    if extra := sorted(available - wanted):
        raise CheckpointError(f"{source.path}: unexpected tensor {_first(extra)} (config mismatch?)")

    remaining: dict[str, int] = {}
    for _, targets, _, _ in plan:
        for target in targets:
            remaining[target] = remaining.get(target, 0) + 1
    if unmapped := sorted(set(_flat_paths(shapes)) - set(remaining)):
        raise CheckpointError(f"no key-map rule fills parameter {unmapped[0]!r}")
    for target in remaining:
        try:
            _get(shapes, target)
        except KeyError:
            raise CheckpointError(f"key map names parameter {target!r}, which this model lacks") from None

    place = place or (lambda path, array, axes: jax.device_put(array))
    logical = param_logical_axes(state)
    params: dict = jax.tree.map(lambda x: None, shapes)
    hosts: dict[str, np.ndarray] = {}
    for name, targets, layer, transform in plan:
        specs = [_get(shapes, t) for t in targets]
        want = tuple(s.shape[1:] if layer is not None else s.shape for s in specs)
        expected = _source_shape(transform, want)
        found = tuple(source.shape(name))
        if found != expected:
            raise CheckpointError(f"{source.path}: tensor {name!r} has shape {found}, expected {expected}")
        values = TRANSFORMS[transform].forward(source.read(name), want if len(want) > 1 else want[0])
        values = values if isinstance(values, tuple) else (values,)
        for target, spec, value in zip(targets, specs, values, strict=True):
            host = hosts.setdefault(target, np.empty(spec.shape, spec.dtype))
            if layer is None:
                host[...] = value
            else:
                host[layer] = value
            remaining[target] -= 1
            if remaining[target] == 0:
                _set(params, target, place(target, hosts.pop(target), logical[target]))

    nnx.replace_by_pure_dict(state, params)
    return nnx.merge(graphdef, state)


def export_tensors(model: Decoder, keymap: KeyMap) -> dict[str, np.ndarray]:
    """The inverse of `load_decoder`: checkpoint-named tensors in checkpoint orientation."""
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    out = {}
    for name, targets, layer, transform in keymap.expand(model.cfg.num_layers):
        parts = []
        for target in targets:
            value = np.asarray(_get(params, target), dtype=np.float32)
            parts.append(value if layer is None else value[layer])
        out[name] = TRANSFORMS[transform].inverse(tuple(parts) if len(parts) > 1 else parts[0])
    return out

"""Checkpoint key maps as data: (checkpoint name, param path, transform) rows.

A transform is named, and each name has a forward (checkpoint -> param) and an
inverse (param -> checkpoint) function, so one table serves loading and
exporting. Checkpoint tensors are in the reference (PyTorch `nn.Linear`,
[out, in]) orientation; the target shape comes from the model itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator

import numpy as np

Shape = tuple[int, ...]


def _to_heads(x: np.ndarray, shape: Shape) -> np.ndarray:
    # [heads*head_dim, d] -> [d, heads, head_dim]; [d, heads*head_dim] -> [heads, head_dim, d]
    return x.T.reshape(shape)


def _from_heads_in(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).T


def _from_heads_out(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, x.shape[-1]).T


@dataclasses.dataclass(frozen=True)
class Transform:
    forward: Callable[[np.ndarray, Shape], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]


TRANSFORMS: dict[str, Transform] = {
    "identity": Transform(lambda x, s: x, lambda x: x),
    "transpose": Transform(lambda x, s: x.T, lambda x: x.T),
    # attention projections with the head axes split out
    "heads_in": Transform(_to_heads, _from_heads_in),
    "heads_out": Transform(_to_heads, _from_heads_out),
    # llama.cpp writes Gemma's RMSNorm weights as (1 + w); HF and xling keep w.
    "minus_one": Transform(lambda x, s: x - 1.0, lambda x: x + 1.0),
}


@dataclasses.dataclass(frozen=True)
class Rule:
    source: str  # may contain "{layer}"
    target: str  # "/"-separated param path; "blocks/..." params are stacked over layers
    transform: str = "identity"

    @property
    def per_layer(self) -> bool:
        return "{layer}" in self.source


@dataclasses.dataclass(frozen=True)
class KeyMap:
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        for rule in self.rules:
            if rule.transform not in TRANSFORMS:
                raise ValueError(f"unknown transform {rule.transform!r} in rule {rule}")

    def expand(self, num_layers: int) -> Iterator[tuple[str, str, int | None, str]]:
        """Yields (source name, param path, layer index or None, transform)."""
        for rule in self.rules:
            if rule.per_layer:
                for i in range(num_layers):
                    yield rule.source.format(layer=i), rule.target, i, rule.transform
            else:
                yield rule.source, rule.target, None, rule.transform

    def source_name(self, target: str, layer: int | None = None) -> str:
        """Inverse lookup: the checkpoint name of a param path (and layer)."""
        for rule in self.rules:
            if rule.target == target and rule.per_layer == (layer is not None):
                return rule.source.format(layer=layer)
        raise KeyError(f"no rule maps to {target!r}")

    def target_of(self, name: str) -> tuple[str, int | None] | None:
        """Forward lookup of a single checkpoint name."""
        for rule in self.rules:
            pattern = re.escape(rule.source).replace(re.escape("{layer}"), r"(\d+)")
            m = re.fullmatch(pattern, name)
            if m:
                return rule.target, int(m.group(1)) if rule.per_layer else None
        return None


def rules(*rows: tuple[str, ...]) -> KeyMap:
    return KeyMap(tuple(Rule(*row) for row in rows))

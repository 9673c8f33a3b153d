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


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's converter (LlamaModel.permute) reorders each head's q/k rows from HF's
    # half-split RoPE layout [re_0..re_{n-1}, im_0..im_{n-1}] to interleaved pairs
    # [re_0, im_0, re_1, im_1, ...], the layout of its own RoPE kernel.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _llama_cpp_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _bloom_qkv(x: np.ndarray, shapes: tuple[Shape, ...]) -> tuple[np.ndarray, ...]:
    # BLOOM fuses q, k, v per head: rows ordered [head, (q|k|v), head_dim].
    heads, head_dim = shapes[0][1:]
    x = x.reshape(heads, 3, head_dim, -1)
    return tuple(x[:, i].transpose(2, 0, 1) for i in range(3))


def _bloom_qkv_inv(parts: tuple[np.ndarray, ...]) -> np.ndarray:
    stacked = np.stack([p.transpose(1, 2, 0) for p in parts], axis=1)
    return stacked.reshape(-1, stacked.shape[-1])


def _bloom_qkv_bias(x: np.ndarray, shapes: tuple[Shape, ...]) -> tuple[np.ndarray, ...]:
    x = x.reshape(shapes[0][0], 3, shapes[0][1])
    return tuple(x[:, i] for i in range(3))


def _gpt2_qkv(x: np.ndarray, shapes: tuple[Shape, ...]) -> tuple[np.ndarray, ...]:
    # GPT-2's Conv1D is [in, out] with q | k | v concatenated along out.
    return tuple(p.reshape(s) for p, s in zip(np.split(x, 3, axis=-1), shapes, strict=True))


def _gpt2_qkv_inv(parts: tuple[np.ndarray, ...]) -> np.ndarray:
    lead = parts[0].shape[:-2] if parts[0].ndim == 3 else ()
    return np.concatenate([p.reshape(*lead, -1) for p in parts], axis=-1)


@dataclasses.dataclass(frozen=True)
class Transform:
    """forward(tensor, target shape) -> param; with several targets, shapes and params are tuples."""

    forward: Callable[[np.ndarray, Shape], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]


TRANSFORMS: dict[str, Transform] = {
    "identity": Transform(lambda x, s: x, lambda x: x),
    "transpose": Transform(lambda x, s: x.T, lambda x: x.T),
    # attention projections with the head axes split out
    "heads_in": Transform(_to_heads, _from_heads_in),
    "heads_out": Transform(_to_heads, _from_heads_out),
    # llama.cpp's llama-architecture q/k rows (interleaved RoPE pairs per head) ->
    # heads_in; the head count (heads for q, kv_heads for k) is the target's axis 1.
    "heads_in_llama_cpp": Transform(
        lambda x, s: _to_heads(_llama_cpp_unpermute(x, s[1]), s),
        lambda x: _llama_cpp_permute(_from_heads_in(x), x.shape[1]),
    ),
    # [heads*head_dim] <-> [heads, head_dim] (biases, OLMo 2 q/k norms)
    "split_heads": Transform(lambda x, s: x.reshape(s), lambda x: x.reshape(-1)),
    # GPT-2 Conv1D output projection: [heads*head_dim, d] <-> [heads, head_dim, d]
    "merge_heads_rows": Transform(lambda x, s: x.reshape(s), lambda x: x.reshape(-1, x.shape[-1])),
    # llama.cpp writes Gemma's RMSNorm weights as (1 + w); HF and xling keep w.
    "minus_one": Transform(lambda x, s: x - 1.0, lambda x: x + 1.0),
    # fused q/k/v tensors -> three params
    "bloom_qkv": Transform(_bloom_qkv, _bloom_qkv_inv),
    "bloom_qkv_bias": Transform(_bloom_qkv_bias, lambda parts: np.stack(parts, axis=1).reshape(-1)),
    "gpt2_qkv": Transform(_gpt2_qkv, _gpt2_qkv_inv),
}


@dataclasses.dataclass(frozen=True)
class Rule:
    source: str  # may contain "{layer}"
    # "/"-separated param path ("blocks/..." params are stacked over layers), or a
    # tuple of paths for a fused tensor that the transform splits.
    target: str | tuple[str, ...]
    transform: str = "identity"

    @property
    def per_layer(self) -> bool:
        return "{layer}" in self.source

    @property
    def targets(self) -> tuple[str, ...]:
        return self.target if isinstance(self.target, tuple) else (self.target,)


@dataclasses.dataclass(frozen=True)
class KeyMap:
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        for rule in self.rules:
            if rule.transform not in TRANSFORMS:
                raise ValueError(f"unknown transform {rule.transform!r} in rule {rule}")

    def expand(self, num_layers: int) -> Iterator[tuple[str, tuple[str, ...], int | None, str]]:
        """Yields (source name, param paths, layer index or None, transform)."""
        for rule in self.rules:
            if rule.per_layer:
                for i in range(num_layers):
                    yield rule.source.format(layer=i), rule.targets, i, rule.transform
            else:
                yield rule.source, rule.targets, None, rule.transform

    def source_name(self, target: str, layer: int | None = None) -> str:
        """Inverse lookup: the checkpoint name of a param path (and layer)."""
        for rule in self.rules:
            if target in rule.targets and rule.per_layer == (layer is not None):
                return rule.source.format(layer=layer)
        raise KeyError(f"no rule maps to {target!r}")

    def target_of(self, name: str) -> tuple[tuple[str, ...], int | None] | None:
        """Forward lookup of a single checkpoint name."""
        for rule in self.rules:
            pattern = re.escape(rule.source).replace(re.escape("{layer}"), r"(\d+)")
            m = re.fullmatch(pattern, name)
            if m:
                return rule.targets, int(m.group(1)) if rule.per_layer else None
        return None


def layer_norm(name: str, path: str) -> list[tuple[str, str]]:
    """Rows for a LayerNorm's weight and bias."""
    return [(f"{name}.weight", f"{path}/scale"), (f"{name}.bias", f"{path}/bias")]


def rules(*rows: tuple) -> KeyMap:
    return KeyMap(tuple(Rule(*row) for row in rows if row))

"""Hugging Face safetensors checkpoints (one file or a sharded index), read without torch.

The files are memory-mapped and each tensor is viewed in place. `safetensors`'
own numpy reader is not used because numpy has no bfloat16 and it refuses
bf16 checkpoints (most of today's models); ml_dtypes supplies the type here.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

from xling.errors import CheckpointError, UnsupportedError

_DTYPES = {
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F64": np.dtype(np.float64),
}
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


class _File:
    def __init__(self, path: Path):
        self.path = path
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        try:
            (n,) = struct.unpack_from("<Q", self.data, 0)
            header = json.loads(bytes(self.data[8 : 8 + n]))
        except (struct.error, ValueError) as e:
            raise CheckpointError(f"{path} is not a safetensors file ({e})") from e
        header.pop("__metadata__", None)
        self.start = 8 + n
        self.header = header


class SafetensorsCheckpoint:
    """All tensors of an HF model directory (or of one .safetensors file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_file():
            files = {self.path.name: self.path}
            weight_map = None
        elif (self.path / INDEX).is_file():
            index = json.loads((self.path / INDEX).read_text())
            weight_map = index["weight_map"]
            files = {name: self.path / name for name in sorted(set(weight_map.values()))}
        elif (self.path / SINGLE).is_file():
            files = {SINGLE: self.path / SINGLE}
            weight_map = None
        else:
            raise FileNotFoundError(f"no {SINGLE} or {INDEX} in {self.path}")
        for name, file in files.items():
            if not file.is_file():
                raise FileNotFoundError(f"{self.path}: shard {name} listed in the index is missing")
        self._files = {name: _File(file) for name, file in files.items()}
        self._where: dict[str, _File] = {}
        for f in self._files.values():
            for tensor in f.header:
                self._where[tensor] = f
        if weight_map is not None:
            for tensor, shard in weight_map.items():
                if self._where.get(tensor) is not self._files[shard]:
                    raise CheckpointError(f"{self.path}: index puts {tensor!r} in {shard}, which lacks it")

    def names(self) -> list[str]:
        return list(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._where[name].header[name]["shape"])

    def dtype(self, name: str) -> str:
        return self._where[name].header[name]["dtype"]

    def read(self, name: str) -> np.ndarray:
        f = self._where[name]
        info = f.header[name]
        if info["dtype"] not in _DTYPES:
            raise UnsupportedError(
                f"{f.path}: tensor {name!r} has dtype {info['dtype']}, which xling cannot load "
                f"(supported: {', '.join(_DTYPES)})"
            )
        begin, end = info["data_offsets"]
        raw = f.data[f.start + begin : f.start + end]
        return raw.view(_DTYPES[info["dtype"]]).reshape(info["shape"])

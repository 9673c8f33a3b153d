"""Reading GGUF files: metadata and dequantized tensors.

The header is parsed here rather than with `gguf.GGUFReader`, which builds a
numpy view per vocabulary entry and takes ~18 s to open a 262k-vocabulary
file (this parser: well under a second). Dequantization is the `gguf`
package's reference numpy code; tensor data is memory-mapped, not copied.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

from xling.errors import CheckpointError, UnsupportedError

# The types the embedded models and common legacy / K-quant files use; each is
# covered by a block-level unit test. Anything else fails loudly rather than guessing.
SUPPORTED_TYPES = frozenset({
    Q.F32, Q.F16, Q.Q8_0, Q.Q5_0, Q.Q5_1, Q.Q4_0, Q.Q4_1, Q.Q4_K, Q.Q6_K,
})  # fmt: skip
_MAGIC = b"GGUF"
_SCALARS = {  # GGUF value type -> struct format
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_NUMPY = {
    0: "<u1",
    1: "<i1",
    2: "<u2",
    3: "<i2",
    4: "<u4",
    5: "<i4",
    6: "<f4",
    7: "?",
    10: "<u8",
    11: "<i8",
    12: "<f8",
}
_STRING, _ARRAY = 8, 9


class _Cursor:
    def __init__(self, buf: memoryview):
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str):
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        value = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return value

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype, count = self.unpack("<I"), self.unpack("<Q")
            if itype in _NUMPY:
                arr = np.frombuffer(self.buf, dtype=_NUMPY[itype], count=count, offset=self.pos)
                self.pos += arr.nbytes
                return arr
            return [self.value(itype) for _ in range(count)]
        raise CheckpointError(f"unknown GGUF value type {vtype}")


class GGUFFile:
    """A GGUF checkpoint; `read` returns float32 tensors in numpy (row-major) orientation."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {self.path}")
        with self.path.open("rb") as f:
            if f.read(4) != _MAGIC:
                raise CheckpointError(f"{self.path} is not a GGUF file (bad magic bytes)")
        self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        try:
            self._parse(memoryview(self._data))
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{self.path}: truncated or corrupt GGUF header ({e})") from e

    def _parse(self, buf: memoryview) -> None:
        cur = _Cursor(buf)
        cur.pos = 4
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise CheckpointError(f"{self.path}: GGUF version {version} is not supported (2 or 3)")
        n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
        self.metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            self.metadata[key] = cur.value(cur.unpack("<I"))
        infos = []
        for _ in range(n_tensors):
            name = cur.string()
            dims = [cur.unpack("<Q") for _ in range(cur.unpack("<I"))]
            infos.append((name, dims, cur.unpack("<I"), cur.unpack("<Q")))
        align = int(self.metadata.get("general.alignment", 32))
        start = -(-cur.pos // align) * align
        self._tensors: dict[str, tuple[tuple[int, ...], int, int]] = {}
        for name, dims, qtype, offset in infos:
            # GGUF lists dimensions innermost first; numpy wants them outermost first.
            self._tensors[name] = (tuple(int(d) for d in reversed(dims)), qtype, start + offset)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "<missing>"))

    def names(self) -> list[str]:
        return list(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._tensors[name][0]

    def qtype(self, name: str) -> Q | int:
        raw = self._tensors[name][1]
        try:
            return Q(raw)
        except ValueError:
            return raw

    def read(self, name: str) -> np.ndarray:
        shape, _, offset = self._tensors[name]
        qtype = self.qtype(name)
        if qtype not in SUPPORTED_TYPES:
            label = qtype.name if isinstance(qtype, Q) else f"#{qtype}"
            supported = ", ".join(sorted(t.name for t in SUPPORTED_TYPES))
            raise UnsupportedError(
                f"{self.path}: tensor {name!r} has quantization type {label}, "
                f"which xling does not dequantize (supported: {supported})"
            )
        block, block_bytes = GGML_QUANT_SIZES[qtype]
        if shape[-1] % block:
            raise CheckpointError(f"{self.path}: tensor {name!r} rows are not whole {qtype.name} blocks")
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        row_bytes = shape[-1] // block * block_bytes
        end = offset + rows * row_bytes
        if end > self._data.size:
            raise CheckpointError(f"{self.path}: tensor {name!r} runs past the end of the file")
        data = self._data[offset:end].reshape(rows, row_bytes)
        return np.asarray(dequantize(data, qtype), dtype=np.float32).reshape(shape)

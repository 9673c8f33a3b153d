"""Hugging Face model directories: config.json + safetensors (single or sharded)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import numpy as np

from xling.checkpoints.loader import Placer, load_decoder
from xling.checkpoints.safetensors_file import SafetensorsCheckpoint
from xling.errors import UnsupportedError
from xling.models.config import ModelConfig
from xling.models.decoder import Decoder
from xling.models.families import hf_family
from xling.models.hf_config import ConfigReader
from xling.models.keymap import KeyMap


def read_config(directory: str | Path) -> tuple[ModelConfig, ModuleType]:
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config.json in {directory}")
    raw = json.loads(path.read_text())
    model_type = raw.get("model_type")
    family = hf_family(model_type, path)
    reader = ConfigReader(raw, model_type)
    cfg = family.config_from_hf(reader)
    reader.finish()
    generation = {}
    gen_path = Path(directory) / "generation_config.json"
    if gen_path.is_file():
        generation = json.loads(gen_path.read_text())
    # Chat models list their end-of-turn token next to EOS, often only in generation_config.json.
    eos_ids = _ids(raw.get("eos_token_id")) + _ids(generation.get("eos_token_id"))
    pad = raw.get("pad_token_id", generation.get("pad_token_id"))
    cfg = cfg.replace(
        bos_id=raw.get("bos_token_id", generation.get("bos_token_id")),
        eos_ids=tuple(dict.fromkeys(eos_ids)),
        pad_id=pad or 0,
    )
    return cfg, family


def _ids(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


class _Prefixed:
    """Serves `transformer.x` for a checkpoint saved from the bare model as `x` (old BLOOM/GPT-2 files)."""

    def __init__(self, source: SafetensorsCheckpoint, keymap: KeyMap, num_layers: int):
        self.source, self.path = source, source.path
        have = set(source.names())
        self.alias = {}
        for name, *_ in keymap.expand(num_layers):
            bare = re.sub(r"^(transformer|model)\.", "", name)
            if name not in have and bare in have:
                self.alias[name] = bare
        self._names = [n for n in have if n not in set(self.alias.values())] + list(self.alias)

    def names(self) -> list[str]:
        return self._names

    def shape(self, name: str) -> tuple[int, ...]:
        return self.source.shape(self.alias.get(name, name))

    def read(self, name: str) -> np.ndarray:
        return self.source.read(self.alias.get(name, name))


def load_hf_dir(
    directory: str | Path,
    *,
    dtype: str = "float32",
    param_dtype: str = "float32",
    scan_layers: bool = True,
    place: Placer | None = None,
    **overrides,
) -> Decoder:
    """The model of an HF directory. Weights are cast to `param_dtype` tensor by tensor.
    `overrides`: runtime ModelConfig fields (attention_impl, attention_dtype, remat, ...)."""
    cfg, family = read_config(directory)
    cfg = cfg.replace(dtype=dtype, param_dtype=param_dtype, scan_layers=scan_layers, **overrides)
    source = SafetensorsCheckpoint(directory)
    stored = {source.dtype(n) for n in source.names()}
    if "BF16" in stored and param_dtype == "float16":
        raise UnsupportedError(
            f"{directory}: bfloat16 weights cannot be held as float16 without overflow; "
            "use param_dtype='bfloat16' or 'float32'"
        )
    keymap = family.hf_keymap(cfg)
    return load_decoder(cfg, _Prefixed(source, keymap, cfg.num_layers), keymap, place, ignore=family.IGNORE)

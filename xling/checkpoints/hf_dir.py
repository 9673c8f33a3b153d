"""Hugging Face model directories: config.json + safetensors (single or sharded)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import numpy as np

from xling.checkpoints.keymap import KeyMap
from xling.checkpoints.loader import Placer, load_decoder
from xling.checkpoints.safetensors_file import SafetensorsCheckpoint
from xling.errors import UnsupportedError
from xling.models import bloom, gemma, gpt2, llama, olmo2
from xling.models.config import ModelConfig
from xling.models.decoder import Decoder
from xling.models.hf_config import ConfigReader

FAMILIES: dict[str, ModuleType] = {t: m for m in (llama, gemma, olmo2, bloom, gpt2) for t in m.MODEL_TYPES}


def read_config(directory: str | Path) -> tuple[ModelConfig, ModuleType]:
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config.json in {directory}")
    raw = json.loads(path.read_text())
    model_type = raw.get("model_type")
    if model_type not in FAMILIES:
        known = ", ".join(sorted(FAMILIES))
        raise UnsupportedError(f"{path}: model_type {model_type!r} is not supported ({known})")
    family = FAMILIES[model_type]
    reader = ConfigReader(raw, model_type)
    cfg = family.config_from_hf(reader)
    reader.finish()
    ids = {k: raw.get(k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    eos = ids["eos_token_id"][0] if isinstance(ids["eos_token_id"], list) else ids["eos_token_id"]
    cfg = cfg.replace(bos_id=ids["bos_token_id"], eos_id=eos, pad_id=ids["pad_token_id"] or 0)
    return cfg, family


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
) -> Decoder:
    """The model of an HF directory. Weights are cast to `param_dtype` tensor by tensor."""
    cfg, family = read_config(directory)
    cfg = cfg.replace(dtype=dtype, param_dtype=param_dtype, scan_layers=scan_layers)
    source = SafetensorsCheckpoint(directory)
    stored = {source.dtype(n) for n in source.names()}
    if "BF16" in stored and param_dtype == "float16":
        raise UnsupportedError(
            f"{directory}: bfloat16 weights cannot be held as float16 without overflow; "
            "use param_dtype='bfloat16' or 'float32'"
        )
    keymap = family.hf_keymap(cfg)
    return load_decoder(cfg, _Prefixed(source, keymap, cfg.num_layers), keymap, place, ignore=family.IGNORE)

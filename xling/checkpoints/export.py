"""Export a (trained) model as a Hugging Face directory: `model.safetensors`, `config.json`
and the tokenizer, loadable by transformers and by `xling.load`.

The tensors come from the family's HF key map run backwards (`export_tensors`: the same
table that loads HF checkpoints). The config is the source checkpoint's own HF config (a
directory's `config.json`, or the config transformers derives from a GGUF file), so a
fine-tuned model keeps every architecture field of its base; `torch_dtype` is set to the
exported precision. The tokenizer is written as `tokenizer.json` with a
`tokenizer_config.json` naming its special tokens and chat template.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xling.checkpoints.loader import export_tensors
from xling.errors import XlingError
from xling.models.decoder import Decoder
from xling.models.families import hf_family


def source_hf_config(source: str | Path):
    """The transformers config of a source checkpoint (an HF directory or a GGUF file)."""
    from transformers import AutoConfig

    source = Path(source)
    if source.is_dir():
        return AutoConfig.from_pretrained(str(source))
    if source.suffix == ".gguf":
        return AutoConfig.from_pretrained(str(source.parent), gguf_file=source.name)
    raise XlingError(f"cannot read an HF config from {source} (an HF directory or a .gguf file)")


def export_hf(
    model: Decoder, tokenizer, source: str | Path, out_dir: str | Path, dtype: str = "float32"
) -> Path:
    """Write `out_dir` (created; an existing non-empty directory is refused)."""
    import safetensors.numpy

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise XlingError(f"{out} exists and is not empty; export into a new directory")
    hf = source_hf_config(source)
    family = hf_family(hf.model_type, source)
    tensors = export_tensors(model, family.hf_keymap(model.cfg))
    np_dtype = {"float32": np.float32, "float16": np.float16}.get(dtype)
    if np_dtype is None:
        raise XlingError(f"export dtype must be float32 or float16, got {dtype!r}")
    out.mkdir(parents=True, exist_ok=True)
    safetensors.numpy.save_file(
        {k: np.ascontiguousarray(v, np_dtype) for k, v in tensors.items()}, str(out / "model.safetensors"),
        metadata={"format": "pt"},
    )  # fmt: skip
    hf.torch_dtype = dtype
    hf.save_pretrained(str(out))
    tokenizer.tok.save(str(out / "tokenizer.json"))
    special = {"tokenizer_class": "PreTrainedTokenizerFast"}
    for key, i in (
        ("bos_token", tokenizer.bos_id),
        ("eos_token", tokenizer.eos_id),
        ("pad_token", tokenizer.pad_id),
    ):
        if i is not None:
            special[key] = tokenizer.id_to_token(i)
    if tokenizer.chat_template:
        special["chat_template"] = tokenizer.chat_template
    (out / "tokenizer_config.json").write_text(json.dumps(special, indent=2, ensure_ascii=False) + "\n")
    return out

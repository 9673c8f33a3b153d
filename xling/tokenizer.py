"""Tokenizers: a thin wrapper over `tokenizers` with left-padded batching.

A GGUF file carries its vocabulary; transformers converts it to a fast
tokenizer once (tens of seconds for a 262k vocabulary) and the resulting
`tokenizer.json` is cached, so later loads need only `tokenizers`.

A tokenizer also carries the checkpoint's chat template, if any (instruction-tuned
models; base models have none); `xling.inference.chat.chat_prompt` renders it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tokenizers

from xling.errors import CheckpointError


class Tokenizer:
    def __init__(
        self,
        tok: tokenizers.Tokenizer,
        *,
        bos_id: int | None,
        eos_id: int | None,
        pad_id: int,
        chat_template: str | None = None,
    ):
        self.tok = tok
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
        self.chat_template = chat_template

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        tok = tokenizers.Tokenizer.from_file(str(path))
        special = _special_ids(path.parent, tok)
        return cls(tok, **special)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.tok.encode(text, add_special_tokens=add_special_tokens).ids

    def encode_with_offsets(
        self, text: str, add_special_tokens: bool = True
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids and each token's [start, end) character span in `text` (special tokens: (0, 0))."""
        enc = self.tok.encode(text, add_special_tokens=add_special_tokens)
        return enc.ids, [tuple(o) for o in enc.offsets]

    def batch(self, texts: list[str], add_special_tokens: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Left-padded ids and mask, both [B, T]: the last column is every prompt's last token."""
        rows = [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=add_special_tokens)]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, np.int32)
        mask = np.zeros((len(rows), width), bool)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row) :] = row
                mask[i, width - len(row) :] = True
        return ids, mask

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def id_to_token(self, i: int) -> str | None:
        return self.tok.id_to_token(int(i))

    def token_to_id(self, token: str) -> int | None:
        return self.tok.token_to_id(token)

    @property
    def bos_token(self) -> str | None:
        """The BOS token's string (what a chat template writes as `{{ bos_token }}`)."""
        return None if self.bos_id is None else self.tok.id_to_token(self.bos_id)

    @property
    def eos_token(self) -> str | None:
        return None if self.eos_id is None else self.tok.id_to_token(self.eos_id)


def _special_ids(directory: Path, tok: tokenizers.Tokenizer) -> dict:
    config = {}
    cfg_path = directory / "tokenizer_config.json"
    if cfg_path.is_file():
        config = json.loads(cfg_path.read_text())

    def lookup(key: str) -> int | None:
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return tok.token_to_id(value) if isinstance(value, str) else None

    pad = lookup("pad_token")
    # As in transformers: chat_template.jinja wins over the config entry, and a list of
    # named templates gives its "default" one.
    template = config.get("chat_template")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    if not isinstance(template, str):
        template = None
    return {
        "bos_id": lookup("bos_token"),
        "eos_id": lookup("eos_token"),
        "pad_id": 0 if pad is None else pad,
        "chat_template": template,
    }


def tokenizer_from_gguf(
    gguf_path: str | Path, cache_dir: str | Path, metadata: dict | None = None
) -> Tokenizer:
    """Tokenizer of a GGUF file, converted once and cached under cache_dir. `metadata`: the
    file's GGUF metadata when the caller has already read it (for the chat template)."""
    from xling.cache import cached_dir

    cache_dir, gguf_path = Path(cache_dir), Path(gguf_path)

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer  # only needed for the one-time conversion

        try:
            hf_tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        except Exception as e:  # transformers raises many types here; the cause is what matters
            raise CheckpointError(
                f"{gguf_path}: could not build a tokenizer from its vocabulary ({e})"
            ) from e
        hf_tok.save_pretrained(str(tmp))

    loaded: list[Tokenizer] = []

    def check(d: Path) -> None:  # a cached entry counts only if it loads; kept, not reloaded
        loaded[:] = [Tokenizer.from_file(d / "tokenizer.json")]

    cached_dir(cache_dir, build, check)  # a truncated entry is rebuilt, with a log line
    tokenizer = loaded[0]
    # The chat template is the GGUF key `tokenizer.chat_template` (absent in base models),
    # read from the file itself so that caches written before it was kept still get it.
    if metadata is None and gguf_path.is_file():
        from xling.checkpoints.gguf_file import GGUFFile

        metadata = GGUFFile(gguf_path).metadata
    template = (metadata or {}).get("tokenizer.chat_template")
    tokenizer.chat_template = template if isinstance(template, str) and template else None
    return tokenizer

"""Token sets for lens readouts (Wendler et al. 2024, "Do Llamas work in English?").

A lens layer "means" word w with the summed probability of every token that could
start w: each string prefix of w that is a vocabulary token, with and without the
word-start marker, plus the token of w's first byte where the tokenizer falls back
to bytes. Overlaps between the sets of different languages are returned, not hidden,
so callers can report and exclude ambiguous examples.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import cache
from typing import Literal

from xling.tokenizer import Tokenizer

TokenizerKind = Literal["sentencepiece", "byte_level", "other"]
SP_MARKER = "▁"


@dataclass(frozen=True)
class TokenSet:
    word: str
    ids: tuple[int, ...]  # sorted, unique
    tokens: tuple[str, ...]  # tokens[i] is the vocabulary string of ids[i]


@cache
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's bytes_to_unicode: byte-level vocabularies store each byte as one printable char."""
    table = {b: chr(b) for r in ((0x21, 0x7E), (0xA1, 0xAC), (0xAE, 0xFF)) for b in range(r[0], r[1] + 1)}
    rest = [b for b in range(256) if b not in table]  # control bytes and spaces move above U+0100
    return table | {b: chr(256 + n) for n, b in enumerate(rest)}


def _byte_level(text: str) -> str:
    table = _byte_to_unicode()
    return "".join(table[b] for b in text.encode("utf-8"))


def _components(tokenizer: Tokenizer) -> list[dict]:
    """Normalizer, pre-tokenizer and decoder as JSON dicts, Sequences flattened.

    Read per component (their pickle state) rather than via `to_str()`, which
    serializes the whole vocabulary: over a second for a 262k one, per word.
    """
    found, stack = [], []
    for part in (tokenizer.tok.normalizer, tokenizer.tok.pre_tokenizer, tokenizer.tok.decoder):
        if part is not None:
            stack.append(json.loads(part.__getstate__()))
    while stack:
        node = stack.pop()
        found.append(node)
        for key in ("normalizers", "pretokenizers", "decoders"):
            stack.extend(node.get(key) or [])
    return found


def tokenizer_kind(tokenizer: Tokenizer) -> TokenizerKind:
    """How the tokenizer marks word starts and stores bytes, read from its configuration."""
    parts = _components(tokenizer)
    if any(p.get("type") == "ByteLevel" for p in parts):
        return "byte_level"
    marker = any(
        p.get("type") == "Metaspace" or (p.get("type") == "Replace" and p.get("content") == SP_MARKER)
        for p in parts
    )
    if marker or getattr(tokenizer.tok.model, "byte_fallback", False):
        return "sentencepiece"
    return "other"


def _candidates(prefix: str, kind: TokenizerKind) -> list[str]:
    if kind == "sentencepiece":
        piece = prefix.replace(" ", SP_MARKER)  # SentencePiece stores inner spaces as the marker too
        return [SP_MARKER + piece, piece]
    if kind == "byte_level":
        return [_byte_level(" " + prefix), _byte_level(prefix)]
    return [prefix]


def word_token_set(tokenizer: Tokenizer, word: str, kind: TokenizerKind | None = None) -> TokenSet:
    """Tokens that could begin `word` (stripped, case kept). Pass `kind` to skip detection in loops."""
    word = word.strip()
    if not word:
        raise ValueError(f"token set: empty or whitespace-only word {word!r}")
    kind = kind or tokenizer_kind(tokenizer)
    strings = [c for n in range(1, len(word) + 1) for c in _candidates(word[:n], kind)]
    first_byte = word.encode("utf-8")[0]
    # A word the vocabulary lacks entirely is still started by its first byte's token.
    if kind == "sentencepiece":
        strings.append(f"<0x{first_byte:02X}>")
    elif kind == "byte_level":
        strings.append(_byte_to_unicode()[first_byte])
    ids = sorted({i for s in strings if (i := tokenizer.token_to_id(s)) is not None})
    if not ids:
        raise ValueError(f"token set: tokenizer ({kind}) has no token starting word {word!r}")
    return TokenSet(word, tuple(ids), tuple(tokenizer.id_to_token(i) for i in ids))


def overlaps(sets: dict[str, TokenSet]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Shared tokens for each pair of named sets, in `sets` order; disjoint pairs are omitted."""
    out = {}
    for (a, sa), (b, sb) in itertools.combinations(sets.items(), 2):
        shared = sorted(set(sa.ids) & set(sb.ids))
        if shared:
            names = dict(zip(sa.ids, sa.tokens, strict=True))
            out[(a, b)] = tuple(names[i] for i in shared)
    return out

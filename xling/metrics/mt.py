"""Corpus-level chrF and BLEU for machine translation, one translation direction at a time.

Both metrics are sacrebleu's (Post 2018), so the numbers and signatures match
`python -m sacrebleu REF -i HYP -m bleu chrf -tok TOK` run on the same lines:

- chrF: `sacrebleu.metrics.CHRF` with its defaults (character order 6, word order 0, beta 2),
  which tokenise nothing and so need no per-language choice.
- BLEU: `sacrebleu.metrics.BLEU` with the tokenizer sacrebleu itself picks for the target
  language (its `BLEU._TOKENIZER_MAP`): "zh" for Chinese, "ja-mecab" (MeCab with the IPA
  dictionary, from mecab-python3 and ipadic) for Japanese, "ko-mecab" for Korean, "13a"
  (the WMT default) for every other language. BLEU over unspaced scripts with 13a counts
  whole sentences as single words, so a score made that way is not comparable to anyone
  else's; when the right tokenizer's packages are missing this module raises rather than
  falling back to 13a.

Each hypothesis is scored against one reference, the segment at the same position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sacrebleu.metrics import BLEU, CHRF

from xling.data.languages import get_language
from xling.errors import DataError

# The tokenizers sacrebleu uses when told the target language; any other language gets 13a.
TOKENIZERS: dict[str, str] = {"zh": "zh", "ja": "ja-mecab", "ko": "ko-mecab"}
DEFAULT_TOKENIZER = "13a"
# The pip extra that installs each tokenizer's dependencies.
_EXTRAS = {"ja-mecab": "sacrebleu[ja]", "ko-mecab": "sacrebleu[ko]"}


def bleu_tokenizer(target_lang: str) -> str:
    """The sacrebleu tokenizer name BLEU uses for text in `target_lang`."""
    return TOKENIZERS.get(get_language(target_lang).code, DEFAULT_TOKENIZER)


def _segments(values: Any, what: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise DataError(f"{what} must be a sequence of strings, got {type(values).__name__}")
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise DataError(f"{what}[{i}] must be a string, got {type(v).__name__} {v!r}")
    return list(values)


def _pair(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    hyps, refs = _segments(hypotheses, "hypotheses"), _segments(references, "references")
    if not hyps:
        raise DataError("no segments to score: hypotheses and references are empty")
    if len(hyps) != len(refs):
        raise DataError(f"{len(hyps)} hypotheses but {len(refs)} references; they must pair one to one")
    return hyps, refs


def _bleu_metric(target_lang: str) -> BLEU:
    tokenizer = bleu_tokenizer(target_lang)
    try:
        return BLEU(tokenize=tokenizer)
    except (RuntimeError, AssertionError) as e:
        # sacrebleu raises RuntimeError when MeCab or its dictionary is missing and asserts on a
        # wrong (non-IPA) dictionary; either way the standard BLEU for this language is unavailable.
        hint = f"; install {_EXTRAS[tokenizer]}" if tokenizer in _EXTRAS else ""
        detail = " ".join(str(e).split()) or type(e).__name__
        raise ImportError(
            f"BLEU for {target_lang!r} needs sacrebleu's {tokenizer!r} tokenizer, which failed to load "
            f"({detail}){hint}"
        ) from None


def _chrf(hyps: list[str], refs: list[str]) -> tuple[float, str]:
    metric = CHRF()
    score = metric.corpus_score(hyps, [refs])
    return float(score.score), str(metric.get_signature())


def _bleu(hyps: list[str], refs: list[str], target_lang: str) -> tuple[float, str]:
    metric = _bleu_metric(target_lang)
    score = metric.corpus_score(hyps, [refs])
    return float(score.score), str(metric.get_signature())


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF2 (0-100) of the hypotheses against their references."""
    return _chrf(*_pair(hypotheses, references))[0]


def bleu(hypotheses: Sequence[str], references: Sequence[str], target_lang: str) -> float:
    """Corpus BLEU (0-100) with the tokenizer sacrebleu uses for `target_lang`."""
    return _bleu(*_pair(hypotheses, references), target_lang)[0]


def score_direction(
    hypotheses: Sequence[str], references: Sequence[str], target_lang: str
) -> dict[str, float | str | int]:
    """chrF and BLEU of one translation direction, with sacrebleu's signature strings.

    The signatures record everything that changes the numbers (tokenizer, casing, smoothing,
    sacrebleu version), so scores from different runs can be checked for comparability.
    """
    hyps, refs = _pair(hypotheses, references)
    chrf_score, chrf_sig = _chrf(hyps, refs)
    bleu_score, bleu_sig = _bleu(hyps, refs, target_lang)
    return {
        "chrf": chrf_score,
        "bleu": bleu_score,
        "signature_chrf": chrf_sig,
        "signature_bleu": bleu_sig,
        "n": len(hyps),
    }

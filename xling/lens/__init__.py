"""Layer-wise intermediate decoding: logit lens (and tuned lens), token sets."""

from xling.lens.logit_lens import LensTrace, logit_lens
from xling.lens.token_sets import TokenSet, overlaps, tokenizer_kind, word_token_set

__all__ = ["LensTrace", "TokenSet", "logit_lens", "overlaps", "tokenizer_kind", "word_token_set"]

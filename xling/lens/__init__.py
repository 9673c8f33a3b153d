"""Layer-wise intermediate decoding: logit lens (and tuned lens), token sets."""

from xling.lens.logit_lens import LensTrace, logit_lens

__all__ = ["LensTrace", "logit_lens"]

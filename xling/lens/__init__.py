"""Layer-wise intermediate decoding (logit lens)."""

from xling.lens.logit_lens import LensTopK, logit_lens_topk

__all__ = ["LensTopK", "logit_lens_topk"]

"""Compare xling against transformers (PyTorch, CPU, fp32) on any local checkpoint.

    python -m xling.verify --model=PATH_TO_HF_DIR_OR_GGUF [--prompt=... --prompt=...]

Reports, per layer, the max relative error of the residual stream (relative to
the largest magnitude of the reference) and, on the final distributions, the
top-k overlap and KL(reference || xling). Needs the `test` extra (torch).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from absl import app, flags

DEFAULT_PROMPTS = (
    'Français: "chien" - English: "dog"',
    "Русский: собака бежит быстро.",
    "中文：狗跑得很快。日本語：犬は速く走る。",
    "हिन्दी: कुत्ता तेज़ दौड़ता है। العربية: الكلب يركض بسرعة.",
)


@dataclasses.dataclass
class VerifyReport:
    layer_errors: list[float]  # index 0: embedding output; l: after block l
    logits_error: float
    topk_overlap: float  # mean over positions of |top-k(xling) ∩ top-k(ref)| / k
    max_kl: float  # max over positions of KL(ref || xling), nats
    k: int

    def to_markdown(self) -> str:
        rows = ["| layer | max rel. error |", "| ---: | ---: |"]
        rows += [f"| {i} | {e:.2e} |" for i, e in enumerate(self.layer_errors)]
        rows.append(f"| logits | {self.logits_error:.2e} |")
        return (
            "\n".join(rows)
            + f"\n\ntop-{self.k} overlap {self.topk_overlap:.4f}, max KL {self.max_kl:.2e} nats"
        )


def load_reference(path: str | Path):
    """transformers' model for an HF directory or a GGUF file, fp32, eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    kwargs = {"dtype": torch.float32}
    if path.suffix == ".gguf":
        return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, **kwargs).eval()
    return AutoModelForCausalLM.from_pretrained(str(path), **kwargs).eval()


def reference_states(model, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[layers + 1, B, T, D] (embedding output, then every block's raw output, before any
    final norm) and the logits, from a hooked transformers forward pass."""
    import torch

    blocks = model.transformer.h if hasattr(model, "transformer") else model.model.layers
    caught = []
    hooks = [b.register_forward_hook(lambda mod, i, o: caught.append(o)) for b in blocks]
    kwargs = {
        "input_ids": torch.as_tensor(ids, dtype=torch.long),
        "attention_mask": torch.as_tensor(mask, dtype=torch.long),
    }
    if model.config.model_type != "bloom":  # BLOOM derives its ALiBi positions from the mask
        kwargs["position_ids"] = torch.as_tensor(np.maximum(np.cumsum(mask, -1) - 1, 0), dtype=torch.long)
    try:
        with torch.no_grad():
            out = model(**kwargs, output_hidden_states=True)
    finally:
        for h in hooks:
            h.remove()
    layers = [out.hidden_states[0]] + [c[0] if isinstance(c, tuple) else c for c in caught]
    return np.stack([x.numpy() for x in layers]), out.logits.numpy()


def rel_err(ours, ref) -> float:
    ref = np.asarray(ref)
    return float(np.abs(np.asarray(ours) - ref).max() / np.abs(ref).max())


def compare(model, reference, ids: np.ndarray, mask: np.ndarray, k: int = 10) -> VerifyReport:
    """Run both models on the same (left-padded) ids and compare at the real tokens."""
    out = model(ids, mask, return_hidden=True)
    ref_hidden, ref_logits = reference_states(reference, ids, mask)
    hidden, logits = np.asarray(out.hidden_states), np.asarray(out.logits)
    errors = [rel_err(hidden[i][mask], ref_hidden[i][mask]) for i in range(hidden.shape[0])]
    ours, ref = logits[mask].astype(np.float64), ref_logits[mask].astype(np.float64)
    top_ours = np.argsort(-ours, axis=-1)[:, :k]
    top_ref = np.argsort(-ref, axis=-1)[:, :k]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(top_ours, top_ref, strict=True)])
    log_p = ref - np.logaddexp.reduce(ref, axis=-1, keepdims=True)
    log_q = ours - np.logaddexp.reduce(ours, axis=-1, keepdims=True)
    kl = np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)
    return VerifyReport(errors, rel_err(ours, ref), float(overlap), float(kl.max()), k)


def verify(path: str | Path, prompts=DEFAULT_PROMPTS, k: int = 10) -> VerifyReport:
    import xling

    loaded = xling.load(path)
    ids, mask = loaded.tokenizer.batch(list(prompts))
    return compare(loaded.model, load_reference(loaded.path), ids, mask, k)


def run() -> None:
    # Flags are defined here, not at import, so the library import defines no global flags.
    model = flags.DEFINE_string("model", None, "HF model directory or .gguf file (or a registry name).")
    prompts = flags.DEFINE_multi_string("prompt", list(DEFAULT_PROMPTS), "Prompts to compare on.")
    k = flags.DEFINE_integer("k", 10, "k of the top-k overlap.")
    flags.mark_flag_as_required("model")
    from xling import cli

    def main(argv):
        cli.guarded(
            lambda: print(verify(model.value, prompts.value, k.value).to_markdown()), "nothing written"
        )

    app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()

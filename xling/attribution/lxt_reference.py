"""The reference for xling's relevance: LXT 2.1 (AttnLRP, "efficient" mode) on transformers.

Used by the parity tests and the benchmark; needs `torch`, `transformers` and `lxt` (the test
extras install `lxt==2.1` without its dependencies: it needs none of them for these models).

Two adaptations, neither changing a rule:

- LXT's package `__init__` imports torchvision (for its ViT patches) and zennit; the modules
  used here (`lxt.efficient.rules`, `.patches`, `.models.gemma3`, `.models.llama`) need
  neither, so they are imported under empty parent packages.
- LXT's `patch_attention` replaces the model module's `ALL_ATTENTION_FUNCTIONS` registry with a
  plain dict, which transformers 5 no longer accepts (it calls `.get_interface`). So the
  attention patch is LXT's own `wrap_attention_forward` applied to the module's
  `eager_attention_forward`, and the model runs with eager attention. Every other entry of
  LXT's `attnLRP` patch map (MLP, RMSNorm, dropout) is applied as LXT applies it.

`patched(family)` applies the patches for the duration of a `with` block and restores the
original methods after, so other code in the process sees plain transformers.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator

import numpy as np

# xling family -> LXT's patch-map module (it imports the transformers modeling module)
FAMILIES = {"gemma3": "lxt.efficient.models.gemma3", "llama": "lxt.efficient.models.llama"}


def _lxt(name: str):
    """Import an LXT submodule without running LXT's package __init__ files."""
    if "lxt" in sys.modules:
        return importlib.import_module(name)
    spec = importlib.util.find_spec("lxt")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lxt is not installed (pip install --no-deps lxt==2.1)")
    root = spec.submodule_search_locations[0]
    for pkg, path in (("lxt", root), ("lxt.efficient", f"{root}/efficient"),
                      ("lxt.efficient.models", f"{root}/efficient/models")):  # fmt: skip
        if pkg not in sys.modules:
            module = types.ModuleType(pkg)
            module.__path__ = [path]
            sys.modules[pkg] = module
    return importlib.import_module(name)


@contextlib.contextmanager
def patched(family: str) -> Iterator[None]:
    """LXT's AttnLRP patches on transformers' `family` classes, undone on exit."""
    if family not in FAMILIES:
        raise ValueError(f"no LXT reference for family {family!r} (have: {', '.join(FAMILIES)})")
    patches = _lxt("lxt.efficient.patches")
    patch_map = _lxt(FAMILIES[family]).attnLRP
    saved: list[tuple[object, str, object]] = []
    for target, patch in patch_map.items():
        if isinstance(target, types.ModuleType):  # patch_attention: see the module docstring
            saved.append((target, "eager_attention_forward", target.eager_attention_forward))
            target.eager_attention_forward = patches.wrap_attention_forward(target.eager_attention_forward)
            continue
        method = patch.keywords.get("method_name", "forward")
        saved.append((target, method, target.__dict__.get(method)))
        if not patch(target):
            raise RuntimeError(f"LXT could not patch {target.__name__}.{method}")
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def relevance(model, family: str, input_ids: np.ndarray, positions, ids) -> tuple[np.ndarray, np.ndarray]:
    """[L + 1, B, T] relevance (sum_d h * grad of the residual stream after the embedding
    and after each layer) of `logits[b, positions[b], ids[b]]`, and the logits [B]; fp32,
    no padding (every row the same length)."""
    import torch

    if model.config._attn_implementation != "eager":
        model.config._attn_implementation = "eager"
    captured: list = []

    def keep(_module, _inputs, output):
        h = output if isinstance(output, torch.Tensor) else output[0]
        h.retain_grad()
        captured.append(h)

    base = model.model
    hooks = [base.embed_tokens.register_forward_hook(keep)]
    hooks += [layer.register_forward_hook(keep) for layer in base.layers]
    try:
        with patched(family):
            ids_t = torch.as_tensor(np.asarray(input_ids), dtype=torch.long)
            logits = model(input_ids=ids_t, use_cache=False).logits.float()
            rows = torch.arange(ids_t.shape[0])
            picked = logits[rows, torch.as_tensor(positions), torch.as_tensor(ids)]
            picked.sum().backward()
    finally:
        for h in hooks:
            h.remove()
    rel = np.stack([(h * h.grad).sum(-1).detach().numpy() for h in captured])
    model.zero_grad(set_to_none=True)
    return rel, picked.detach().numpy()

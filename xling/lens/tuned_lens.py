"""Tuned lens (Belrose et al. 2023): one learned affine translator per layer before the readout.

Translator l maps hidden_states[l] to h + h @ W_l + b_l and is trained to minimise
KL(final-layer distribution || readout of the translated state). W and b start at
zero, so an untrained lens is exactly the logit lens. The model stays frozen.

The loss needs logits over the whole vocabulary (262,144 for Gemma 3), so it is
evaluated per (token chunk, layer) and its gradient w.r.t. the normed state,
(softmax - p) @ U, is formed in the same pass: no [L, B, T, V] tensor and no
backward pass through the unembedding.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from xling.errors import XlingError
from xling.models.decoder import Decoder
from xling.tokenizer import Tokenizer

DEFAULT_TEXT_DIR = Path(__file__).resolve().parents[1] / "data" / "lens_text"


class LensMismatchError(XlingError):
    """A saved tuned lens was trained for a different model."""


def unembedding_hash(model: Decoder) -> str:
    """Short sha256 of the unembedding matrix and depth/width: identifies the model a lens fits."""
    cfg = model.cfg
    w = np.ascontiguousarray(np.asarray(model.embed[...] if cfg.tie_embeddings else model.lm_head[...]))
    digest = hashlib.sha256(f"{cfg.num_layers}:{cfg.d_model}:{w.shape}:{w.dtype}".encode())
    digest.update(w.view(np.uint8))
    return digest.hexdigest()[:16]


class TunedLens(nnx.Module):
    """Affine translators for layers 0..L-1; the last layer is already the output, so identity."""

    def __init__(self, num_layers: int, d_model: int, model_hash: str = ""):
        self.num_layers, self.d_model, self.model_hash = num_layers, d_model, model_hash
        self.weight = nnx.Param(jnp.zeros((num_layers, d_model, d_model), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_layers, d_model), jnp.float32))

    @classmethod
    def for_model(cls, model: Decoder) -> TunedLens:
        return cls(model.cfg.num_layers, model.cfg.d_model, unembedding_hash(model))

    def translate(self, hidden: jax.Array) -> jax.Array:
        """hidden [L+1, ..., D] -> same shape; hidden[L] passes through unchanged."""
        if hidden.shape[0] != self.num_layers + 1 or hidden.shape[-1] != self.d_model:
            raise ValueError(
                f"hidden states {hidden.shape} do not fit a lens for {self.num_layers} layers "
                f"of width {self.d_model}"
            )
        h = hidden[:-1].astype(jnp.float32)
        bias = self.bias[...].reshape((self.num_layers,) + (1,) * (h.ndim - 2) + (self.d_model,))
        out = h + jnp.einsum("l...d,lde->l...e", h, self.weight[...]) + bias
        return jnp.concatenate([out.astype(hidden.dtype), hidden[-1:]], axis=0)


# ---------------------------------------------------------------- text


def load_texts(paths: str | Path | Sequence[str | Path], *, per_line: bool = True) -> list[str]:
    """Documents from .txt (one per non-empty line, or the whole file if not per_line) and
    .jsonl files (the "text" field of each line)."""
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    texts: list[str] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"text file not found: {path}")
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".txt":
            texts += [line.strip() for line in raw.splitlines()] if per_line else [raw.strip()]
        elif path.suffix == ".jsonl":
            for n, line in enumerate(raw.splitlines(), 1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                        raise ValueError(f'{path}:{n}: expected a JSON object with a "text" string')
                    texts.append(row["text"].strip())
        else:
            raise ValueError(f"{path}: unsupported text file type {path.suffix!r} (.txt or .jsonl)")
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError(f"no text in {', '.join(map(str, paths)) or 'an empty path list'}")
    return texts


def default_texts(split: str = "train") -> list[str]:
    """The shipped multilingual sample ("train" or "heldout"); see data/lens_text/README.md."""
    return load_texts(DEFAULT_TEXT_DIR / f"{split}.jsonl")


def _windows(texts: Sequence[str], tokenizer: Tokenizer, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Each document cut into [BOS] + (seq_len - 1)-token windows, left-padded; windows are
    ordered round-robin over documents so that any prefix keeps the language mix."""
    if not texts:
        raise ValueError("no texts given")
    bos = [] if tokenizer.bos_id is None else [tokenizer.bos_id]
    step = seq_len - len(bos)
    per_doc = []
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        per_doc.append([bos + ids[i : i + step] for i in range(0, len(ids), step)])
    rows = [doc[i] for i in range(max(map(len, per_doc))) for doc in per_doc if i < len(doc)]
    ids = np.full((len(rows), seq_len), tokenizer.pad_id, np.int32)
    mask = np.zeros((len(rows), seq_len), bool)
    for r, row in enumerate(rows):
        ids[r, seq_len - len(row) :], mask[r, seq_len - len(row) :] = row, True
    return ids, mask


def _weights(ids: jax.Array, mask: jax.Array, bos_id: int | None) -> jax.Array:
    """Loss weight per token: real tokens only; BOS is skipped (every layer reads it alike
    and its huge residual norm would dominate)."""
    keep = mask if bos_id is None else mask & (ids != bos_id)
    return keep.astype(jnp.float32).reshape(-1)


# ---------------------------------------------------------------- the KL core


def _kl_terms(model: Decoder, layers: jax.Array, final: jax.Array, w: jax.Array, chunk: int, grad: bool):
    """layers [L, N, D], final [N, D]: normed states; w [N]. Returns sum_t w_t KL(p_final || p_l)
    per layer ([L]) and, if grad, its gradient w.r.t. `layers` ([L, N, D]); else None."""
    rows = model.unembedding_rows().astype(jnp.float32)
    n_layers, n, d = layers.shape
    chunk = min(chunk, n)
    pad = -n % chunk
    layers = jnp.pad(layers, ((0, 0), (0, pad), (0, 0))).reshape(n_layers, -1, chunk, d).swapaxes(0, 1)
    final, w = (
        jnp.pad(final, ((0, pad), (0, 0))).reshape(-1, chunk, d),
        jnp.pad(w, (0, pad)).reshape(-1, chunk),
    )

    def per_chunk(xs):
        hs, hf, wc = xs
        logp = jax.nn.log_softmax(model.unembed(hf.astype(jnp.float32), rows), -1)  # [c, V], once per chunk
        p = jnp.exp(logp)
        neg_entropy = (p * logp).sum(-1)

        def per_layer(h):
            z, softcap_vjp = jax.vjp(model.softcap, jnp.einsum("cd,vd->cv", h.astype(jnp.float32), rows))
            lse = jax.nn.logsumexp(z, -1)
            kl = (wc * (neg_entropy - (p * z).sum(-1) + lse)).sum()
            if not grad:
                return kl, None
            dz = (jnp.exp(z - lse[:, None]) - p) * wc[:, None]
            return kl, softcap_vjp(dz)[0] @ rows

        return jax.lax.map(per_layer, hs)

    kl, dh = jax.lax.map(per_chunk, (layers, final, w))  # [C, L], [C, L, c, D]
    if grad:
        dh = dh.swapaxes(0, 1).reshape(n_layers, -1, d)[:, :n]
    return kl.sum(0), dh


def _normed(
    model: Decoder, lens: TunedLens | None, hidden: jax.Array, layers: tuple[int, ...]
) -> tuple[jax.Array, jax.Array]:
    """([len(layers), N, D] normed (translated) states of `layers`, [N, D] normed final state)."""
    if lens is not None:
        hidden = lens.translate(hidden)
    normed = model.final_norm(hidden)
    picked = normed[np.asarray(layers)]
    return picked.reshape(len(layers), -1, normed.shape[-1]), normed[-1].reshape(-1, normed.shape[-1])


def _layer_tuple(model: Decoder, layers: Sequence[int] | None) -> tuple[int, ...]:
    n = model.cfg.num_layers
    picked = tuple(range(n)) if layers is None else tuple(sorted({int(i) for i in layers}))
    if not picked or picked[0] < 0 or picked[-1] >= n:
        raise ValueError(
            f"layers must be a non-empty subset of 0..{n - 1} (layer {n} is the output), got {layers}"
        )
    return picked


def _hidden(model: Decoder, ids: jax.Array, mask: jax.Array) -> jax.Array:
    out = model(ids, mask, return_hidden=True, return_logits=False)
    return jax.lax.stop_gradient(out.hidden_states)


# ---------------------------------------------------------------- training and evaluation


def _loss_and_grads(model: Decoder, lens_def, params, ids, mask, bos_id: int | None, chunk: int, layers):
    """Mean over `layers` and real tokens of KL(final || lens), and its gradient w.r.t. params.

    The gradient w.r.t. the normed states comes from `_kl_terms`; only the cheap
    translate + norm part is differentiated by JAX (one vjp).
    """
    hidden = _hidden(model, ids, mask)
    w = _weights(ids, mask, bos_id)
    w = w / (jnp.maximum(w.sum(), 1.0) * len(layers))
    (states, final), pullback = jax.vjp(
        lambda p: _normed(model, nnx.merge(lens_def, p), hidden, layers), params
    )
    kl, dh = _kl_terms(model, states, final, w, chunk, grad=True)
    return kl.sum(), pullback((dh, jnp.zeros_like(final)))[0]


def train_tuned_lens(
    model: Decoder,
    texts: list[str] | None,
    tokenizer: Tokenizer,
    *,
    steps: int = 250,
    batch_size: int = 4,
    seq_len: int = 64,
    learning_rate: float = 3e-4,
    warmup_steps: int = 10,
    seed: int = 0,
    chunk: int = 64,
    layers: Sequence[int] | None = None,
    progress: bool = True,
) -> tuple[TunedLens, np.ndarray]:
    """Fit a tuned lens on `texts` (None: the shipped multilingual sample). Returns the lens and
    the per-step loss (mean over the trained layers and real tokens of KL(final || lens), nats).

    layers: which translators to train (default all of 0..L-1); the others stay zero, i.e.
    read like the logit lens. Each trained layer costs two [tokens, vocab] matmuls per step,
    which dominates on CPU, so a subset makes quick studies affordable.
    Peak memory is a few [chunk, vocab] fp32 arrays beyond the model (chunk=64: ~70 MB each).
    Cost: about 3.4 GFLOP per trained layer and token (Gemma 3 270M), i.e. ~3 s per layer per
    step of 4 x 64 tokens on 2 CPU cores; progress shows the loss and an ETA.
    """
    from tqdm.auto import tqdm

    picked = _layer_tuple(model, layers)
    ids, mask = _windows(default_texts("train") if texts is None else texts, tokenizer, seq_len)
    lens = TunedLens.for_model(model)
    lens_def, params = nnx.split(lens)
    model_def, model_state = nnx.split(model)
    schedule = optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1))
    opt = optax.adam(schedule)
    opt_state = opt.init(params)
    bos = tokenizer.bos_id

    @jax.jit
    def step(params, opt_state, model_state, ids, mask):
        loss, grads = _loss_and_grads(
            nnx.merge(model_def, model_state), lens_def, params, ids, mask, bos, chunk, picked
        )
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    order: list[int] = []
    losses = []
    bar = tqdm(range(steps), desc="tuned lens", unit="step", disable=not progress)
    for _ in bar:
        while len(order) < batch_size:  # epochs of shuffled windows
            order += list(rng.permutation(len(ids)))
        batch, order = order[:batch_size], order[batch_size:]
        params, opt_state, loss = step(params, opt_state, model_state, ids[batch], mask[batch])
        losses.append(float(loss))
        bar.set_postfix(kl=f"{losses[-1]:.3f}")
    nnx.update(lens, params)
    return lens, np.asarray(losses)


def lens_kl(
    model: Decoder,
    lens: TunedLens | None,
    texts: list[str] | None,
    tokenizer: Tokenizer,
    *,
    seq_len: int = 64,
    batch_size: int = 4,
    max_windows: int | None = None,
    chunk: int = 64,
    layers: Sequence[int] | None = None,
) -> np.ndarray:
    """Mean KL(final || layer) in nats over real tokens, per layer ([L+1]; the last is 0), for the
    logit lens (lens=None) or a tuned lens. texts=None: the shipped held-out sample.
    max_windows caps the seq_len-token windows read (taken round-robin across documents);
    layers limits the work to those layers (the others come back NaN)."""
    picked = _layer_tuple(model, layers)
    ids, mask = _windows(default_texts("heldout") if texts is None else texts, tokenizer, seq_len)
    ids, mask = ids[:max_windows], mask[:max_windows]
    lens_parts = None if lens is None else nnx.split(lens)
    model_def, model_state = nnx.split(model)
    total, count = np.zeros(len(picked)), 0.0
    for start in range(0, len(ids), batch_size):
        rows = np.arange(start, start + batch_size) % len(ids)  # wrap the last batch: one compiled shape
        keep = np.arange(start, start + batch_size) < len(ids)
        kl, n = _eval_batch(model_def, model_state, lens_parts, ids[rows], mask[rows] & keep[:, None], tokenizer.bos_id, chunk, picked)  # fmt: skip
        total, count = total + np.asarray(kl, np.float64), count + float(n)
    if count == 0:
        raise ValueError("the texts have no tokens to score")
    out = np.full(model.cfg.num_layers + 1, np.nan)
    out[list(picked)], out[-1] = total / count, 0.0
    return out


@functools.partial(jax.jit, static_argnames=("model_def", "bos_id", "chunk", "layers"))
def _eval_batch(model_def, model_state, lens_parts, ids, mask, bos_id, chunk, layers):
    model = nnx.merge(model_def, model_state)
    lens = None if lens_parts is None else nnx.merge(*lens_parts)
    w = _weights(ids, mask, bos_id)
    states, final = _normed(model, lens, _hidden(model, ids, mask), layers)
    return _kl_terms(model, states, final, w, chunk, grad=False)[0], w.sum()


# ---------------------------------------------------------------- save / load


def save_tuned_lens(lens: TunedLens, directory: str | Path, *, overwrite: bool = False) -> Path:
    """Write the lens parameters and its metadata (model_hash, num_layers, d_model) with orbax."""
    directory = Path(directory).expanduser().resolve()  # orbax wants absolute paths
    meta = {"model_hash": lens.model_hash, "num_layers": lens.num_layers, "d_model": lens.d_model}
    params = nnx.to_pure_dict(nnx.state(lens, nnx.Param))
    args = ocp.args.Composite(params=ocp.args.StandardSave(params), metadata=ocp.args.JsonSave(meta))
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckpt:
        ckpt.save(directory, args, force=overwrite)
    return directory


def load_tuned_lens(directory: str | Path, model: Decoder) -> TunedLens:
    """Restore a saved lens, checking that it was trained for `model` (same unembedding hash)."""
    directory = Path(directory).expanduser().resolve()
    if not (directory / "metadata").is_dir():
        raise FileNotFoundError(f"no tuned lens checkpoint at {directory}")
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckpt:
        meta = ckpt.restore(directory, ocp.args.Composite(metadata=ocp.args.JsonRestore())).metadata
        current = unembedding_hash(model)
        if meta["model_hash"] != current:
            raise LensMismatchError(
                f"{directory}: tuned lens was trained for a model with unembedding hash "
                f"{meta['model_hash']}, but this model's is {current}"
            )
        lens = TunedLens(meta["num_layers"], meta["d_model"], meta["model_hash"])
        state = nnx.state(lens, nnx.Param)
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, nnx.to_pure_dict(state))
        params = ckpt.restore(directory, ocp.args.Composite(params=ocp.args.StandardRestore(target))).params
    nnx.replace_by_pure_dict(state, params)
    nnx.update(lens, state)
    return lens

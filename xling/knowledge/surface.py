"""The surface tests of Chua et al. (2025): models look cross-lingual on the surface.

Two tests, each run per model:

- Translation: few-shot machine translation of the parallel sentences, one direction at a
  time. The prompt is `shots` demonstrations (the first sentences of the set, never a test
  sentence) in the form "{src_name}: {src}\\n{tgt_name}: {tgt}\\n\\n", then the test sentence
  and "{tgt_name}:" (English language names). Greedy, stopped at a newline, stripped; chrF
  and BLEU per direction with `xling.metrics.mt.score_direction`.
- Embeddings: each English passage, its code-switched copy (`code_switch`) and two baselines
  at the same positions (`random_replace` with English lexicon words, `delete_words`). Every
  layer's residual stream is mean-pooled over the text's tokens (the BOS token left out: its
  state is the same, and large, in every text) and compared by cosine with the original's.
  Raw cosines of these models sit near 0.99 at every layer: a few "massive activation"
  dimensions are large and of the same sign in every text, so they dominate the dot product.
  The centred cosine first subtracts, per layer and dimension, the mean pooled state over all
  the texts of the run (every passage and every variant; the same vector for every pair), so
  that it compares what the texts do not share. Records keep both; `centre` picks the one
  the summary reports. Per layer: mean cosines with bootstrap CIs, and paired one-sided
  Wilcoxon signed-rank tests of "code-switched is closer to the original than the baseline".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from xling.corpus.codeswitch import code_switch, delete_words, random_replace
from xling.data.languages import get_language, language_name
from xling.data.lexicon import Lexicon
from xling.errors import DataError
from xling.metrics.mt import score_direction
from xling.metrics.stats import bootstrap_ci
from xling.partitioning import Partitioning, activate
from xling.plotting.files import file_slug, save_figure

DATA = Path(__file__).resolve().parents[1] / "data"
SHIPPED_SENTENCES = DATA / "parallel" / "sentences.jsonl"
SHIPPED_PARAGRAPHS = DATA / "xmrc" / "xquad.en.json"
DEMO = "{src_name}: {src}\n{tgt_name}: {tgt}\n\n"
QUERY = "{src_name}: {src}\n{tgt_name}:"
KINDS = ("code_switched", "random", "deleted")
SOURCES = ("xquad", "sentences")
_META = ("id", "topic")


# ---------------------------------------------------------------------------------------- data


def load_sentences(path: str | Path = "") -> tuple[list[dict], tuple[str, ...]]:
    """The parallel sentences (one JSON object a line with an `id` and a text per language) and
    the languages every sentence has."""
    path = Path(path).expanduser() if path else SHIPPED_SENTENCES
    if not path.is_file():
        raise DataError(f"config.data.sentences: no file at {path}")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not a JSON line ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"]:
            raise DataError(f"{path}:{n}: each line must be an object with a string 'id'")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no sentences")
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: sentence ids repeat")
    langs = [k for k in rows[0] if k not in _META]
    have = tuple(k for k in langs if all(isinstance(r.get(k), str) and r[k].strip() for r in rows))
    return rows, have


def load_paragraphs(path: str | Path = "") -> list[tuple[str, str]]:
    """(id, text) of every paragraph of a SQuAD-format JSON file (the English XQuAD contexts)."""
    path = Path(path).expanduser() if path else SHIPPED_PARAGRAPHS
    if not path.is_file():
        raise DataError(f"config.data.paragraphs: no file at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        out = [
            (f"p{k:03d}", para["context"])
            for k, para in enumerate(p for article in data for p in article["paragraphs"])
        ]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not a SQuAD-format file ({type(e).__name__}: {e})") from None
    if not out or not all(isinstance(t, str) and t.strip() for _, t in out):
        raise DataError(f"{path}: no paragraphs, or an empty one")
    return out


def parse_direction(direction: str, available: Sequence[str]) -> tuple[str, str]:
    """ "en-fr" -> ("en", "fr"), both known languages the sentence set has."""
    parts = direction.split("-")
    if len(parts) != 2 or not all(parts):
        raise DataError(f"direction {direction!r} must be two language codes joined by '-' (en-fr)")
    src, tgt = (get_language(p).code for p in parts)
    if src == tgt:
        raise DataError(f"direction {direction!r} translates a language into itself")
    for code in (src, tgt):
        if code not in available:
            raise DataError(
                f"direction {direction}: the sentence set has no {code} ({language_name(code, 'english')}) "
                f"text (it has {' '.join(available)})"
            )
    return src, tgt


# ---------------------------------------------------------------------------------- translation


def mt_prompt(demos: Sequence[dict], source: str, src: str, tgt: str) -> str:
    """The few-shot prompt: one block per demonstration, then the source and the target name."""
    names = {"src_name": language_name(src, "english"), "tgt_name": language_name(tgt, "english")}
    head = "".join(DEMO.format(src=d[src], tgt=d[tgt], **names) for d in demos)
    return head + QUERY.format(src=source, **names)


def split_sentences(sentences: list[dict], shots: int, num_sentences: int) -> tuple[list[dict], list[dict]]:
    """(demonstrations, test sentences): the first `shots`, then the next `num_sentences`
    (0 = all the rest)."""
    if shots >= len(sentences):
        raise DataError(
            f"config.shots={shots} leaves no test sentence: the set has {len(sentences)} sentences"
        )
    tests = sentences[shots:]
    return sentences[:shots], tests[:num_sentences] if num_sentences else tests


def translation_records(
    rt,
    model_name: str,
    directions: Sequence[tuple[str, str]],
    demos: list[dict],
    tests: list[dict],
    generation: dict,
    progress: Callable[[int], None] = lambda n: None,
) -> list[dict]:
    """Translate every test sentence in every direction; one record per (direction, sentence)."""
    from xling.inference.batching import generate_many

    rows = [(s, t, r) for s, t in directions for r in tests]
    prompts = [mt_prompt(demos, r[s], s, t) for s, t, r in rows]
    out = generate_many(
        rt.model, rt.tokenizer, prompts, max_new_tokens=generation["max_new_tokens"],
        batch_size=generation["batch_size"], stages=tuple(generation["stages"]),
        groups=[f"{s}-{t}" for s, t, _ in rows], stop=tuple(generation["stop"]),
        partitioning=rt.partitioning, progress=progress,
    )  # fmt: skip
    return [
        {
            "model": model_name,
            "test": "translation",
            "direction": f"{s}-{t}",
            "src": s,
            "tgt": t,
            "id": r["id"],
            "prompt": p,
            "source": r[s],
            "reference": r[t],
            "generation": text,
            "hypothesis": text.strip(),
            "finish": fin,
        }
        for (s, t, r), p, text, fin in zip(rows, prompts, out.texts, out.finish, strict=True)
    ]


# ----------------------------------------------------------------------------------- embeddings


def english_words(lexicon: Lexicon) -> list[str]:
    """The lexicon's English canonical words that are single words (the random-word pool)."""
    words = sorted({c.word("en") for c in lexicon if c.has("en")})
    return [w for w in words if w and " " not in w]


def variants(text: str, lexicon: Lexicon, vocab: list[str], rate: float, languages, seed: int) -> dict:
    """kind -> Switched: the code-switched copy and both baselines, at the same positions."""
    kw = {"lexicon": lexicon, "languages": languages}
    return {
        "code_switched": code_switch(text, lexicon, rate, languages, seed),
        "random": random_replace(text, vocab, rate, seed, **kw),
        "deleted": delete_words(text, rate, seed, **kw),
    }


@functools.partial(jax.jit, static_argnames=("graphdef", "partitioning"))
def _pooled(graphdef, state, tokens, mask, pool, partitioning):
    with activate(partitioning):
        model = nnx.merge(graphdef, state)
        hidden = model(tokens, mask, return_hidden=True, return_logits=False).hidden_states
        w = pool.astype(jnp.float32)[None, :, :, None]  # [1, B, T, 1]
        total = (hidden.astype(jnp.float32) * w).sum(axis=2)
        return total / jnp.maximum(w.sum(axis=2), 1.0)  # [L + 1, B, D]


def pooled_hidden(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 16,
    skip_bos: bool = True,
    partitioning: Partitioning | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """[N, L + 1, D] float32: each layer's hidden states mean-pooled over the text's tokens
    (left-padded batches of similar lengths; the BOS token left out with `skip_bos`)."""
    rows = [tokenizer.encode(t) for t in texts]
    bos = tokenizer.bos_id if skip_bos else None
    graphdef, state = nnx.split(model)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = np.zeros((len(rows), model.cfg.num_layers + 1, model.cfg.d_model), np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        picked = [rows[i] for i in batch]
        picked += [picked[-1]] * (batch_size - len(picked))  # one shape for every batch
        width = max(16, 1 << (max(len(r) for r in picked) - 1).bit_length())  # few compilations
        ids = np.full((batch_size, width), tokenizer.pad_id, np.int32)
        mask = np.zeros((batch_size, width), bool)
        for j, r in enumerate(picked):
            ids[j, width - len(r) :], mask[j, width - len(r) :] = r, True
        pool = mask.copy()
        for j, r in enumerate(picked):
            if bos is not None and len(r) > 1 and r[0] == bos:
                pool[j, width - len(r)] = False
        pooled = _pooled(graphdef, state, ids, mask, pool, partitioning)
        out[batch] = np.asarray(pooled, np.float32).transpose(1, 0, 2)[: len(batch)]
        progress(len(batch))
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-layer cosine similarity of [L + 1, D] arrays, clipped to [-1, 1]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.clip((a * b).sum(-1) / np.maximum(den, 1e-30), -1.0, 1.0)


def embedding_records(
    rt,
    model_name: str,
    passages: Sequence[dict],
    *,
    batch_size: int,
    skip_bos: bool,
    progress: Callable[[int], None] = lambda n: None,
) -> list[dict]:
    """passages: {id, source, text, variants: {kind: {text, replaced, eligible, words}}};
    one record per (passage, kind) with the per-layer cosines to the original, raw
    (`cosines`) and after subtracting the mean pooled state of all these texts
    (`cosines_centred`, see the module docstring)."""
    texts = []
    for p in passages:
        texts += [p["text"], *(p["variants"][k]["text"] for k in KINDS)]
    pooled = pooled_hidden(
        rt.model, rt.tokenizer, texts, batch_size=batch_size, skip_bos=skip_bos,
        partitioning=rt.partitioning, progress=progress,
    )  # fmt: skip
    centred = pooled - pooled.mean(axis=0, keepdims=True)  # per layer and dimension
    records = []
    for n, p in enumerate(passages):
        base = pooled[4 * n]
        for j, kind in enumerate(KINDS, 1):
            v = p["variants"][kind]
            records.append(
                {
                    "model": model_name,
                    "test": "embeddings",
                    "id": p["id"],
                    "source": p["source"],
                    "kind": kind,
                    "cosines": [round(float(c), 6) for c in cosines(base, pooled[4 * n + j])],
                    "cosines_centred": [
                        round(float(c), 6) for c in cosines(centred[4 * n], centred[4 * n + j])
                    ],
                    "replaced": v["replaced"],
                    "eligible": v["eligible"],
                    "words": v["words"],
                    "original": p["text"],
                    "text": v["text"],
                }
            )
    return records


# -------------------------------------------------------------------------------------- summary


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> float | None:
    """One-sided paired Wilcoxon signed-rank p-value of x > y (None when every pair ties)."""
    from scipy.stats import wilcoxon

    d = np.asarray(x, float) - np.asarray(y, float)
    if not np.any(d != 0):
        return None
    return float(wilcoxon(x, y, alternative="greater").pvalue)


def _ci(values, n_resamples: int, seed: int) -> list[float]:
    return [round(v, 6) for v in bootstrap_ci(np.asarray(values, float), n_resamples=n_resamples, seed=seed)]


def summarize(records: list[dict], *, centre: bool = True, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Translation scores per (model, direction) and per-layer embedding similarities per model
    (centred cosines with `centre`, else raw)."""
    field = "cosines_centred" if centre else "cosines"
    models = list(dict.fromkeys(r["model"] for r in records))
    translation = []
    for model in models:
        mine = [r for r in records if r["model"] == model and r["test"] == "translation"]
        for direction in dict.fromkeys(r["direction"] for r in mine):
            rs = [r for r in mine if r["direction"] == direction]
            scores = score_direction(
                [r["hypothesis"] for r in rs], [r["reference"] for r in rs], rs[0]["tgt"]
            )
            translation.append({"model": model, "direction": direction, **scores})
    embeddings = []
    for model in models:
        mine = [r for r in records if r["model"] == model and r["test"] == "embeddings"]
        if not mine:
            continue
        by_kind = {k: {r["id"]: r for r in mine if r["kind"] == k} for k in KINDS}
        ids = [i for i in by_kind["code_switched"] if all(i in by_kind[k] for k in KINDS)]
        cos = {k: np.array([by_kind[k][i][field] for i in ids], float) for k in KINDS}  # [N, L+1]
        counts = [by_kind["code_switched"][i] for i in ids]
        rate = sum(r["replaced"] for r in counts) / max(sum(r["eligible"] for r in counts), 1)
        layers = []
        for layer in range(cos["code_switched"].shape[1]):
            col = {k: cos[k][:, layer] for k in KINDS}
            layers.append(
                {
                    "layer": layer,
                    **{k: _ci(col[k], n_resamples, seed) for k in KINDS},
                    "p_vs_random": _wilcoxon(col["code_switched"], col["random"]),
                    "p_vs_deleted": _wilcoxon(col["code_switched"], col["deleted"]),
                }
            )
        embeddings.append(
            {
                "model": model,
                "n": len(ids),
                "replaced": sum(r["replaced"] for r in counts),
                "eligible": sum(r["eligible"] for r in counts),
                "words": sum(r["words"] for r in counts),
                "realised_rate": round(rate, 4),
                "centred": centre,
                "layers": layers,
            }
        )
    return {"translation": translation, "embeddings": embeddings}


def _p(p) -> str:
    return "-" if p is None else f"{p:.3g}" + (" *" if p < 0.05 else "")


def _cos(ci) -> str:
    m, lo, hi = ci
    return f"{m:.4f}" if np.isnan(lo) else f"{m:.4f} [{lo:.4f}, {hi:.4f}]"


def summary_markdown(summary: dict, header: str) -> str:
    lines = [
        "# Surface tests: translation and code-switched embeddings",
        "",
        header,
        "",
        "## Translation (chrF, BLEU; sacrebleu, corpus level)",
        "",
        "| model | direction | n | chrF | BLEU |",
        "|---|---|---|---|---|",
    ]
    for r in summary["translation"]:
        lines.append(f"| {r['model']} | {r['direction']} | {r['n']} | {r['chrf']:.1f} | {r['bleu']:.1f} |")
    sigs = sorted({(r["signature_chrf"], r["signature_bleu"]) for r in summary["translation"]})
    if sigs:
        lines += ["", "Signatures: " + "; ".join(sorted({s for pair in sigs for s in pair})) + "."]
    for e in summary["embeddings"]:
        lines += [
            "",
            f"## Embeddings: {e['model']}",
            "",
            f"{e['n']} passages; {e['replaced']} of {e['eligible']} eligible words replaced "
            f"(realised rate {e['realised_rate']:.3f}; {e['words']} words in all). Mean "
            + ("centred " if e.get("centred") else "raw ")
            + "cosine to the original with bootstrap 95% CIs; p: one-sided paired Wilcoxon signed-rank test that the "
            "code-switched copy is closer than the baseline (* p < 0.05).",
            "",
            "| layer | code-switched | random | deleted | p vs random | p vs deleted |",
            "|---|---|---|---|---|---|",
        ]
        for r in e["layers"]:
            lines.append(
                f"| {r['layer']} | {_cos(r['code_switched'])} | {_cos(r['random'])} | {_cos(r['deleted'])} | "
                f"{_p(r['p_vs_random'])} | {_p(r['p_vs_deleted'])} |"
            )
    return "\n".join(lines) + "\n"


def plot_all(summary: dict, workdir: Path) -> list[Path]:
    """similarity_by_layer_{model}.png and translation_{model}.png; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xling.plotting.fonts import rc_params

    written = []
    labels = {"code_switched": "code-switched", "random": "random words", "deleted": "deleted words"}
    with plt.rc_context(rc_params()):
        for e in summary["embeddings"]:
            fig, ax = plt.subplots(figsize=(6, 3.4))
            x = [r["layer"] for r in e["layers"]]
            for kind in KINDS:
                m, lo, hi = (np.array([r[kind][j] for r in e["layers"]]) for j in range(3))
                ax.plot(x, m, marker="o", markersize=3, label=labels[kind])
                ax.fill_between(x, lo, hi, alpha=0.2)
            ax.set_xlabel("layer (0 = embeddings)")
            ax.set_ylabel(("centred" if e.get("centred") else "raw") + " cosine to original")
            ax.set_title(f"{e['model']}: {e['n']} passages, rate {e['realised_rate']:.2f}", fontsize=9)
            ax.legend(fontsize=7)
            written.append(save_figure(fig, workdir / f"similarity_by_layer_{file_slug(e['model'])}.png"))
        for model in dict.fromkeys(r["model"] for r in summary["translation"]):
            rs = [r for r in summary["translation"] if r["model"] == model]
            fig, ax = plt.subplots(figsize=(1.5 + 0.55 * len(rs), 3.2))
            bars = ax.bar([r["direction"] for r in rs], [r["chrf"] for r in rs], color="tab:blue")
            ax.bar_label(bars, fmt="%.0f", fontsize=6)
            ax.set_ylabel("chrF")
            ax.set_ylim(0, 100)
            ax.tick_params(axis="x", labelsize=7, rotation=45)
            ax.set_title(f"{model}: {rs[0]['n']} sentences per direction", fontsize=9)
            written.append(save_figure(fig, workdir / f"translation_{file_slug(model)}.png"))
    return written

"""The lens CLI: per-layer tables and layer x position heatmaps for prompts, with the logit
lens or a tuned lens (trained here or loaded), and held-out KL of both."""

from __future__ import annotations

import logging
from pathlib import Path

import ml_collections

from xling.errors import XlingError
from xling.runtime import check_model_config, load_runtime, make_partitioning
from xling.workdir import Workdir, atomic_write, expand_files, input_digests


def _prompts(config) -> list[str]:
    if config.prompts_file:
        from xling.lens.tuned_lens import load_texts

        return load_texts(config.prompts_file)
    prompts = list(config.prompts)
    if not prompts:
        raise XlingError("no prompts: set config.prompts or config.prompts_file")
    return prompts


def _tuned(config, model, tokenizer, workdir: Path):
    from xling.lens import tuned_lens as tl

    spec = config.tuned
    if spec.load:
        return tl.load_tuned_lens(spec.load, model)
    if spec.steps <= 0:
        return None
    texts = tl.load_texts(spec.texts.split(",")) if spec.texts else None
    layers = [int(i) for i in spec.layers.split(",")] if spec.layers else None
    lens, losses = tl.train_tuned_lens(
        model,
        texts,
        tokenizer,
        steps=spec.steps,
        batch_size=spec.batch_size,
        seq_len=spec.seq_len,
        learning_rate=spec.learning_rate,
        layers=layers,
        seed=config.seed,
    )
    path = tl.save_tuned_lens(lens, Path(workdir) / "tuned_lens", overwrite=True)
    logging.info("tuned lens: loss %.3f -> %.3f nats; saved to %s", losses[0], losses[-1], path)
    kl = {
        "logit": tl.lens_kl(model, None, None, tokenizer, layers=layers, max_windows=spec.eval_windows),
        "tuned": tl.lens_kl(model, lens, None, tokenizer, layers=layers, max_windows=spec.eval_windows),
    }
    rows = ["layer,kl_logit_lens,kl_tuned_lens"] + [
        f"{i},{a:.4f},{b:.4f}" for i, (a, b) in enumerate(zip(kl["logit"], kl["tuned"], strict=True))
    ]
    atomic_write(Path(workdir) / "heldout_kl.csv", "\n".join(rows) + "\n")
    return lens


REPORT_FIELDS = ("heatmap_window", "mesh")


def _windows(n: int, size: int) -> list[tuple[int, int]]:
    """[start, end) position ranges of at most `size` (all of them when size is 0)."""
    size = size or n
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> None:
    from xling.lens import logit_lens
    from xling.plotting.heatmap import lens_heatmap

    check_model_config(config.model)
    if not isinstance(config.top_k, int) or config.top_k < 1:
        raise XlingError(f"config.top_k must be an integer >= 1, got {config.top_k!r}")
    window = config.get("heatmap_window", 48)
    if not isinstance(window, int) or window < 0:
        raise XlingError(f"config.heatmap_window must be an integer >= 0, got {window!r}")
    prompts = _prompts(config)
    part = make_partitioning(config.get("mesh"))
    files = {}
    if config.prompts_file:
        files["prompts_file"] = expand_files([config.prompts_file])
    if config.tuned.texts:
        files["tuned.texts"] = expand_files(config.tuned.texts.split(","))
    if config.tuned.load:
        files["tuned.load"] = sorted(
            p for p in Path(config.tuned.load).expanduser().rglob("*") if p.is_file()
        )
    work = Workdir(workdir).prepare()
    # Input files are part of the fingerprint by content: edited in place, they are a new config.
    cfg = {**config.to_dict(), "inputs": input_digests(files)}
    work.check_config(cfg, REPORT_FIELDS)
    rt = load_runtime(config.model, partitioning=part)
    model, tok = rt.model, rt.tokenizer
    lens = _tuned(config, model, tok, work.path)
    work.write_config(cfg)
    kind = "tuned" if lens is not None else "logit"
    for n, prompt in enumerate(prompts):
        ids, mask = tok.batch([prompt])
        trace = logit_lens(
            model, ids, mask, positions="all", k=config.top_k, lens=lens, partitioning=rt.partitioning
        )
        work.write(f"prompt{n:03d}_layers.csv", trace.to_pandas(tok).to_csv(index=False))
        labels = [[tok.id_to_token(int(i)) for i in row] for row in trace.topk_ids[:, 0, :, 0]]
        inputs = [tok.id_to_token(int(i)) for i in ids[0]]
        spans = _windows(ids.shape[1], window)
        for w, (a, b) in enumerate(spans):
            # Long prompts are drawn in windows of positions: one image per window.
            suffix = "" if len(spans) == 1 else f"_{w:02d}"
            title = f"{kind} lens: top-1 token and probability"
            if len(spans) > 1:
                title += f" (positions {a}-{b - 1} of {ids.shape[1]})"
            try:
                lens_heatmap(
                    trace.topk_probs[:, 0, a:b, 0],
                    [row[a:b] for row in labels],
                    x_labels=inputs[a:b],
                    path=work.path / f"prompt{n:03d}_heatmap{suffix}.png",
                    title=title,
                    value_label="top-1 probability",
                )
            except ValueError as e:  # a plot must never lose the computed tables
                logging.warning("prompt %d: heatmap %s not drawn (%s)", n, suffix or "", e)
        final = tok.id_to_token(int(trace.topk_ids[-1, 0, -1, 0]))
        logging.info(
            "prompt %d: %d tokens, next token %r (p=%.2f)",
            n,
            ids.shape[1],
            final,
            float(trace.topk_probs[-1, 0, -1, 0]),
        )
    print(f"wrote per-layer tables and heatmaps for {len(prompts)} prompts to {work.path}")

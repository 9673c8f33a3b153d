"""The lens CLI: per-layer tables and layer x position heatmaps for prompts, with the logit
lens or a tuned lens (trained here or loaded), and held-out KL of both."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import ml_collections

from xling.errors import XlingError
from xling.runtime import check_model_config, load_runtime


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
    path = tl.save_tuned_lens(lens, workdir / "tuned_lens", overwrite=True)
    logging.info("tuned lens: loss %.3f -> %.3f nats; saved to %s", losses[0], losses[-1], path)
    kl = {
        "logit": tl.lens_kl(model, None, None, tokenizer, layers=layers, max_windows=spec.eval_windows),
        "tuned": tl.lens_kl(model, lens, None, tokenizer, layers=layers, max_windows=spec.eval_windows),
    }
    rows = ["layer,kl_logit_lens,kl_tuned_lens"] + [
        f"{i},{a:.4f},{b:.4f}" for i, (a, b) in enumerate(zip(kl["logit"], kl["tuned"], strict=True))
    ]
    (workdir / "heldout_kl.csv").write_text("\n".join(rows) + "\n")
    return lens


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> None:
    from xling.lens import logit_lens
    from xling.plotting.heatmap import lens_heatmap

    workdir = Path(workdir).expanduser()
    workdir.mkdir(parents=True, exist_ok=True)
    prompts = _prompts(config)
    check_model_config(config.model)
    rt = load_runtime(config.model, config.get("mesh"))
    model, tok = rt.model, rt.tokenizer
    lens = _tuned(config, model, tok, workdir)
    (workdir / "config.json").write_text(json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n")
    for n, prompt in enumerate(prompts):
        ids, mask = tok.batch([prompt])
        trace = logit_lens(
            model, ids, mask, positions="all", k=config.top_k, lens=lens, partitioning=rt.partitioning
        )
        table = trace.to_pandas(tok)
        table.to_csv(workdir / f"prompt{n:03d}_layers.csv", index=False)
        labels = [[tok.id_to_token(int(i)) for i in row] for row in trace.topk_ids[:, 0, :, 0]]
        inputs = [tok.id_to_token(int(i)) for i in ids[0]]
        kind = "tuned" if lens is not None else "logit"
        lens_heatmap(
            trace.topk_probs[:, 0, :, 0],
            labels,
            x_labels=inputs,
            path=workdir / f"prompt{n:03d}_heatmap.png",
            title=f"{kind} lens: top-1 token and probability",
            value_label="top-1 probability",
        )
        final = tok.id_to_token(int(trace.topk_ids[-1, 0, -1, 0]))
        logging.info(
            "prompt %d: %d tokens, next token %r (p=%.2f)",
            n,
            ids.shape[1],
            final,
            float(trace.topk_probs[-1, 0, -1, 0]),
        )
    print(f"wrote per-layer tables and heatmaps for {len(prompts)} prompts to {workdir}")

"""xMRC end to end, examples/s: xling's unit runner vs the same prompts through transformers.

    python benchmarks/xmrc_throughput.py                          # Gemma 3 270M, 6 languages
    python benchmarks/xmrc_throughput.py --model=smollm2-135m-instruct --questions=4

Workload: the default xMRC experiment's examples (shipped set; settings en-x, x-x, en-en over
--languages; --questions per pair), CPU fp32, greedy, at most 32 new tokens, stop at a newline
or the model's EOS / end-of-turn ids.

xling: `xling.xmrc.runner.run_unit` per setting, as the experiment runs it (prompt building,
questions about one context batched together with the context prefilled once, the compiled
decode loop, answer cleaning, EM/F1 and the error taxonomy). Timed twice: the first pass
includes compilation.

HF (what users do): the same prompt token ids in data order, batches of --batch with left
padding and an attention mask, `generate(do_sample=False, max_new_tokens=32,
stop_strings=["\\n"], eos_token_id=<the same ids>)`, then the same cleaning and scoring; each
of --hf_batches is timed and the fastest compared.
Prints a markdown row for benchmarks/RESULTS.md and how often the two answers agree.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
from absl import app, flags

_MODEL = flags.DEFINE_string("model", "gemma3-270m", "registry name")
_LANGS = flags.DEFINE_string("languages", "en,de,ru,zh,ar,hi", "languages")
_Q = flags.DEFINE_integer("questions", 8, "questions per language pair")
_BATCH = flags.DEFINE_integer("batch", 16, "prompts per batch, xling")
_HF_BATCHES = flags.DEFINE_list("hf_batches", ["16", "32"], "HF batch sizes tried; the fastest is compared")
_NEW = flags.DEFINE_integer("new", 32, "max new tokens")


def main(_):
    import runpy
    from pathlib import Path

    import jax
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from xling.experiments import xmrc
    from xling.runtime import load_runtime, model_block
    from xling.xmrc.prompts import build_prompt
    from xling.xmrc.runner import run_unit, score

    root = Path(__file__).resolve().parents[1]
    config = runpy.run_path(str(root / "experiments" / "xmrc.py"))["get_config"]()
    config.models, config.languages, config.num_questions = _MODEL.value, _LANGS.value, _Q.value
    config.generation.batch_size, config.generation.max_new_tokens = _BATCH.value, _NEW.value
    p = xmrc.plan(config)
    name = _MODEL.value
    rt = load_runtime(model_block(config, name))
    fmt = p.formats[name]
    units = {s: xmrc.unit_examples(p, s, config.num_questions, config.seed) for s in p.settings}
    n = sum(map(len, units.values()))
    candidates = sorted(set(p.data.languages) | {"en"})

    def ours():
        return {
            s: run_unit(rt, name, s, fmt, p.prompts, ex, p.generation, candidates) for s, ex in units.items()
        }

    start = time.perf_counter()
    ours()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    got = ours()
    warm = time.perf_counter() - start

    # --- transformers on the same token ids.
    from xling.registry import resolve

    path = resolve(name)
    hf = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    ).eval()
    hf_tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    tok = rt.tokenizer
    eos = list(rt.model.cfg.eos_ids)
    pad = tok.pad_id if tok.pad_id is not None else eos[0]

    def theirs(hf_batch: int):
        out = {}
        for s, examples in units.items():
            prompts = [build_prompt(p.prompts, fmt, tok, e.context, e.question, name)[0] for e in examples]
            rows = [tok.encode(t, add_special_tokens=fmt == "plain") for t in prompts]
            texts = []
            for b in range(0, len(rows), hf_batch):
                batch = rows[b : b + hf_batch]
                width = max(map(len, batch))
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for i, r in enumerate(batch):
                    ids[i, width - len(r) :], mask[i, width - len(r) :] = torch.as_tensor(r), 1
                with torch.no_grad():
                    new = hf.generate(
                        input_ids=ids, attention_mask=mask, max_new_tokens=_NEW.value, do_sample=False,
                        top_p=None, top_k=None, eos_token_id=eos, pad_token_id=pad,
                        stop_strings=list(p.generation.stop), tokenizer=hf_tok,
                    )[:, width:]  # fmt: skip
                for row in new.tolist():
                    text = tok.decode([t for t in row if t != pad and t not in eos])
                    cut = min((i for i in (text.find(x) for x in p.generation.stop) if i >= 0), default=None)
                    texts.append(text if cut is None else text[:cut])
            out[s] = [
                score(e, t, candidates) | {"generation": t} for e, t in zip(examples, texts, strict=True)
            ]
        return out

    hf_times = {}
    for hf_batch in map(int, _HF_BATCHES.value):
        start = time.perf_counter()
        ref = theirs(hf_batch)
        hf_times[hf_batch] = time.perf_counter() - start
    best = min(hf_times, key=hf_times.get)
    hf_s = hf_times[best]

    pairs = [(a, b) for s in units for a, b in zip(got[s], ref[s], strict=True)]
    same = sum(a["answer"] == b["answer"] for a, b in pairs)
    f1_ours = np.mean([a["f1"] for a, _ in pairs])
    f1_hf = np.mean([b["f1"] for _, b in pairs])
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0]}, "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{name} ({fmt} prompts): {n} examples ({', '.join(f'{s}: {len(e)}' for s, e in units.items())}), "
        f"languages {_LANGS.value}, batch {_BATCH.value}, <= {_NEW.value} new tokens"
    )
    print(f"answers identical: {same}/{n}; mean F1 xling {f1_ours:.3f}, HF {f1_hf:.3f}")
    print("HF seconds by batch size: " + ", ".join(f"{b}: {t:.0f} s" for b, t in hf_times.items()))
    print(
        f"| workload | xling ex/s (batch {_BATCH.value}, first pass, with compile) | xling ex/s (warm) "
        f"| HF generate ex/s (best batch, {best}) | ratio (warm) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| {name} xMRC {n} ex, {_LANGS.value} | {n / cold:.2f} ({cold:.0f} s) | {n / warm:.2f} ({warm:.0f} s) "
        f"| {n / hf_s:.2f} ({hf_s:.0f} s) | {hf_s / warm:.2f}x (cold {hf_s / cold:.2f}x) |"
    )


if __name__ == "__main__":
    app.run(main)

"""5-shot multiple-choice scoring of the shipped set, CPU fp32: xling vs the obvious transformers loop.

    python benchmarks/mc_scoring.py                 # Gemma 3 270M, all 160 test questions, 5-shot
    python benchmarks/mc_scoring.py --questions=5   # per subject, a quick check

xling: `xling.knowledge.runner.run_unit` as the knowledge-barrier experiment runs it: the
reference prompt, the header and the five English demonstrations of a subject prefilled once
and read in place by every question of that subject (`choice_logits`), only the last
position unembedded. HF (what the reference code does): one forward per question over the
full 5-shot prompt, logits at the last position, softmax over the four letter tokens.
Prints a markdown row for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
from absl import app, flags

_MODEL = flags.DEFINE_string("model", "gemma3-270m", "registry name")
_Q = flags.DEFINE_integer("questions", 0, "test questions per subject (0 = all)")
_SHOTS = flags.DEFINE_integer("shots", 5, "demonstrations")


def main(_):
    import jax
    import torch
    from transformers import AutoModelForCausalLM

    from xling.data import mmlu
    from xling.knowledge.prompts import build_prompt, letter_tokens
    from xling.knowledge.runner import UnitSpec, run_unit
    from xling.knowledge.variants import build_variant
    from xling.registry import resolve
    from xling.runtime import load_runtime, model_config

    name = _MODEL.value
    rt = load_runtime(model_config(name))
    english = {split: mmlu.load_shipped("en", split) for split in ("test", "dev")}
    if _Q.value:
        english["test"] = {s: v[: _Q.value] for s, v in english["test"].items()}
    test = build_variant("en", english["test"], {})
    demos = build_variant("en", english["dev"], {})
    n = sum(map(len, test.values()))
    spec = UnitSpec("en", shots=_SHOTS.value)

    start = time.perf_counter()
    run_unit(rt, name, spec, test, demos)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    ours = run_unit(rt, name, spec, test, demos)
    warm = time.perf_counter() - start

    path = resolve(name)
    hf = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    ).eval()
    letters = list(letter_tokens(rt.tokenizer, "ABCD").ids)
    prompts = [build_prompt(it, demos[s][: _SHOTS.value]) for s in sorted(test) for it in test[s]]
    tokens = [len(rt.tokenizer.encode(p)) for p in prompts]
    start = time.perf_counter()
    theirs = []
    with torch.no_grad():
        for p in prompts:
            ids = torch.tensor([rt.tokenizer.encode(p)])
            logits = hf(input_ids=ids, logits_to_keep=1).logits[0, -1, letters]
            theirs.append(torch.softmax(logits.double(), -1).numpy())
    hf_s = time.perf_counter() - start

    ours_p = np.array([r["letter_probs"] for r in ours])
    theirs_p = np.array(theirs)
    same = int((ours_p.argmax(1) == theirs_p.argmax(1)).sum())
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0]}, "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{name}: {n} questions, {_SHOTS.value}-shot, prompts {min(tokens)}-{max(tokens)} tokens "
        f"({sum(tokens)} in all); predictions identical {same}/{n}, max |dp| {np.abs(ours_p - theirs_p).max():.1e}"
    )
    print(
        "| workload | xling q/s (first pass, with compile) | xling q/s (warm) | HF loop q/s | ratio (warm) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| {name} {_SHOTS.value}-shot MC, {n} q | {n / cold:.2f} ({cold:.1f} s) | {n / warm:.2f} ({warm:.1f} s) "
        f"| {n / hf_s:.2f} ({hf_s:.1f} s) | {hf_s / warm:.2f}x (cold {hf_s / cold:.2f}x) |"
    )


if __name__ == "__main__":
    app.run(main)

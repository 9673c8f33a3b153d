"""Entry point: `python -m xling.main --workdir=DIR`.

Until the word-translation experiment lands, this is the demo the Makefile's
`make run` calls: load the default model, then for a few translation prompts
print the greedy continuation and a per-layer logit-lens table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

_MODEL = flags.DEFINE_string("model", "gemma3-270m", "Registry name or path to a .gguf file.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "Where results are written.")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 6, "Greedy tokens per prompt.")

DEMO_PROMPTS = [
    'Français: "fleur" - 中文: "花"\nFrançais: "chien" - 中文: "',
    'Deutsch: "Buch" - English: "book"\nDeutsch: "Wasser" - English: "',
    'English: "house" - Русский: "дом"\nEnglish: "moon" - Русский: "',
    'Español: "gato" - 日本語: "猫"\nEspañol: "árbol" - 日本語: "',
    'English: "water" - हिन्दी: "पानी"\nEnglish: "sun" - हिन्दी: "',
]


def main(argv: list[str]) -> None:
    del argv
    import xling
    from xling.generate import greedy_generate
    from xling.lens import logit_lens

    workdir = Path(_WORKDIR.value)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    loaded = xling.load(_MODEL.value)
    tok = loaded.tokenizer
    print(f"loaded {_MODEL.value} ({loaded.config.num_layers} layers) in {time.perf_counter() - t0:.1f}s")

    ids, mask = tok.batch(DEMO_PROMPTS)
    new = greedy_generate(loaded.model, ids, mask, _MAX_NEW.value, eos_id=loaded.config.eos_id)
    lens = logit_lens(loaded.model, ids, mask, k=1)
    records = []
    for b, prompt in enumerate(DEMO_PROMPTS):
        completion = tok.decode(new[b])
        print(f"\n{prompt!r} -> {completion!r}")
        print(f"  {'layer':>5}  {'top-1 token':<16} {'prob':>6}  {'entropy':>7}")
        layers = []
        for layer in range(lens.num_layers + 1):
            token = tok.id_to_token(lens.topk_ids[layer, b, 0, 0])
            prob, ent = float(lens.topk_probs[layer, b, 0, 0]), float(lens.entropy[layer, b, 0])
            print(f"  {layer:>5}  {token!r:<16} {prob:6.3f}  {ent:7.2f}")
            layers.append({"layer": layer, "top1": token, "top1_prob": prob, "entropy": ent})
        records.append({"prompt": prompt, "completion": completion, "layers": layers})
    out = workdir / "demo.json"
    out.write_text(json.dumps(records, ensure_ascii=False, indent=1))
    print(f"\nwrote {out} ({time.perf_counter() - t0:.1f}s in all)")


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()

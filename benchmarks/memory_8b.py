"""Compiled memory of a Llama-3-8B-shaped bf16 model, no weights allocated.

    python benchmarks/memory_8b.py

Lowers each workload with the parameters as ShapeDtypeStructs (`abstract_model`),
compiles it with the XLA CPU compiler and prints `memory_analysis()` as a Markdown
table for benchmarks/RESULTS.md. Each case is compiled twice: with the CPU pipeline
as it is, and with its while-loop invariant code motion disabled (`NO_HOIST`), which
otherwise hoists f32 copies of every stacked bf16 weight out of the layer scan (the
CPU has no bf16 GEMM; a GPU/TPU compile has no such copies). The workloads, the
config and the measurement are those of tests/test_memory_analysis.py, which asserts
the bounds.
"""

from __future__ import annotations

import pathlib
import platform
import resource
import sys
import time

import jax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from test_memory_analysis import NO_HOIST, llama3_8b, lower_forward, lower_relevance, lower_train_step, memory

CASES = (
    ("forward B=8 T=4096, logits at last position", lambda: lower_forward(llama3_8b(), 8, 4096, "last")),
    ("forward B=8 T=4096, full fp32 logits", lambda: lower_forward(llama3_8b(), 8, 4096, True)),
    (
        "forward B=8 T=4096, last position, attention_chunk=0",
        lambda: lower_forward(llama3_8b(attention_chunk=0), 8, 4096, "last"),
    ),
    *(
        (f"value_and_grad B=1 T=2048, remat={r}", lambda r=r: lower_train_step(llama3_8b(remat=r), 1, 2048))
        for r in ("none", "full", "dots")
    ),
    *(
        (f"AttnLRP relevance B=1 T=2048, remat={r}", lambda r=r: lower_relevance(llama3_8b(remat=r), 1, 2048))
        for r in ("none", "full")
    ),
)


def main() -> None:
    print(f"jax {jax.__version__}, XLA CPU compiler, {platform.machine()}; GB = 1e9 bytes\n")
    print("| workload | CPU pipeline | arguments | outputs | temporaries | total | compile |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, lower in CASES:
        lowered = lower()
        for pipeline, options in (("no hoisting", NO_HOIST), ("default", None)):
            start = time.perf_counter()
            m = memory(lowered, options)
            took = time.perf_counter() - start
            cells = " | ".join(f"{m[k] / 1e9:.2f}" for k in ("argument", "output", "temp", "total"))
            print(f"| {name} | {pipeline} | {cells} | {took:.1f} s |", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"\npeak host RSS of this process (all compiles): {rss:.2f} GB")


if __name__ == "__main__":
    main()

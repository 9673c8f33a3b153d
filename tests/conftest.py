"""Shared fixtures. The real-model fixtures are session-scoped: loading Gemma 3
270M and its transformers reference once costs about a minute on 2 cores."""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from xling.models.config import ModelConfig
from xling.models.decoder import Decoder

# The longest test files (minutes each, measured), run first: with `make test`'s two xdist
# workers taking whole files (`--dist loadfile`), a long file picked up last would leave the
# other worker idle at the end. (`--no-loadscope-reorder` in the Makefile: by default xdist
# reorders files by their number of tests, which put the long files last.)
LONG_FIRST = (
    "test_xmrc_attribution.py", "test_sharding.py", "test_fault_injection.py", "test_xmrc.py",
    "test_pivot_pretraining.py",
    "test_tuned_lens.py", "test_knowledge_barriers.py", "test_mixed_language_finetune.py",
    "test_instruction_tune.py",
    "test_gemma3_parity.py", "test_train.py", "test_lens_cli.py", "test_surface.py",
    "test_attribution_parity.py", "test_attribution.py", "test_generation.py", "test_smollm2.py",
    "test_hf_families.py", "test_readme.py",
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


# Memory-heavy tests (training a real model: weights, gradients and two AdamW moments in
# fp32 plus compilation; an 8-device worker process, up to 11 GB) run alone: every test holds
# a shared lock for its whole protocol (module fixtures included), a memory-heavy one an
# exclusive lock, so it never overlaps a test of the other xdist worker. Two at once went past
# the 24 GB of the CI machine; the OOM-killed worker then left pytest-xdist waiting forever.
# A gate lock gives the exclusive one precedence (no starvation by a stream of short tests).
_LOCK: dict = {"dir": None, "mode": None, "depth": 0}


@contextlib.contextmanager
def _suite_lock(exclusive: bool):
    if _LOCK["mode"] is not None:  # already held by this process's current test
        if exclusive and _LOCK["mode"] != "exclusive":
            raise RuntimeError("a memory-heavy step in a test not marked @pytest.mark.memory_heavy")
        _LOCK["depth"] += 1
        try:
            yield
        finally:
            _LOCK["depth"] -= 1
        return
    root = Path(_LOCK["dir"] or tempfile.gettempdir())
    gate = open(root / "xling-suite-gate.lock", "w")  # noqa: SIM115
    held = open(root / "xling-suite-memory.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(held, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    finally:
        gate.close()
    _LOCK["mode"] = "exclusive" if exclusive else "shared"
    try:
        yield
    finally:
        _LOCK["mode"] = None
        held.close()


def memory_heavy_lock():
    """Inside a memory-heavy test (its own lock, re-entered) or a fixture of one."""
    return _suite_lock(True)


def pytest_configure(config):
    config.addinivalue_line("markers", "memory_heavy: runs alone in the suite (conftest._suite_lock)")
    # One directory for every xdist worker (each has its own basetemp).
    _LOCK["dir"] = tempfile.gettempdir()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    heavy = item.get_closest_marker("memory_heavy") is not None
    with _suite_lock(heavy):
        yield
        if nextitem is None or nextitem.module is not item.module:
            _release_memory()


def _release_memory() -> None:
    """After a test module: collect its garbage and hand freed heap pages back to the OS
    (glibc keeps them otherwise, and a worker's resident size only grows)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def run_on_8_devices(script: str, tmp_path, *args: str, timeout: int = 900, heavy: bool = False) -> dict:
    """Run tests/workers/{script} in a fresh process with 8 simulated CPU devices (the suite
    keeps its one device) and return the JSON it writes to its last argument. `heavy`: a real
    model in the worker (up to 11 GB): the calling test must be marked memory_heavy."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "result.json"
    worker = Path(__file__).parent / "workers" / script
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    with memory_heavy_lock() if heavy else contextlib.nullcontext():
        proc = subprocess.run([sys.executable, str(worker), *args, str(out)], env=env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def with_fields(config, **fields):
    """Set dotted config fields (`"generation.max_new_tokens": 8`) in place; returns config."""
    for key, value in fields.items():
        node = config
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    return config


def tiny_config(**overrides) -> ModelConfig:
    """A small Gemma-3-like config exercising every feature of the decoder."""
    base = dict(
        family="tiny",
        vocab_size=97,
        d_model=32,
        num_layers=4,
        num_heads=4,
        num_kv_heads=2,
        head_dim=8,
        mlp_dim=48,
        activation="gelu_tanh",
        norm_offset=1.0,
        qk_norm="head",
        post_attn_norm=True,
        post_ffn_norm=True,
        embed_scale=32**0.5,
        rope_theta=1_000_000.0,
        local_rope_theta=10_000.0,
        sliding_window=3,
        layer_types=("local", "local", "local", "global"),
        query_pre_attn_scalar=8,
        pad_id=0,
    )
    base.update(overrides)
    return ModelConfig(**base)


def tiny_model(seed: int = 0, **overrides) -> Decoder:
    model = Decoder(tiny_config(**overrides), rngs=nnx.Rngs(seed))
    # Norm scales start at zero (offset 1); perturb them so the tests see them.
    state = nnx.state(model, nnx.Param)
    rng = np.random.default_rng(seed)
    for path, var in nnx.to_flat_state(state):
        if "scale" in path:
            var.value = var.value + 0.1 * rng.standard_normal(var.value.shape).astype(np.float32)
    return model


@pytest.fixture(scope="session")
def gemma():
    import xling

    return xling.load("gemma3-270m")


@pytest.fixture(scope="session")
def hf_gemma(gemma):
    """transformers' Gemma3ForCausalLM and tokenizer from the same GGUF file, fp32 on CPU."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(gguf_file=gemma.path.name)
    model = AutoModelForCausalLM.from_pretrained(str(gemma.path.parent), dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(gemma.path.parent), **kwargs)
    return model.eval(), tokenizer


def write_gguf(path, arch: str = "gemma3", tensors: dict | None = None, metadata: dict | None = None):
    """Write a GGUF file with gguf's own writer. tensors: name -> float array, or
    (uint8 block bytes [rows, row_bytes], GGMLQuantizationType)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in (metadata or {}).items():
        if isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        else:
            writer.add_string(key, value)
    for name, value in (tensors or {}).items():
        if isinstance(value, tuple):
            writer.add_tensor(name, value[0], raw_dtype=value[1])
        else:
            writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def pytest_runtest_logreport(report):
    """With XLING_TEST_LOG=path, one line per test phase as it finishes (duration, the
    worker's resident memory): where a suite's time and memory go, even when it never ends."""
    import os

    path = os.environ.get("XLING_TEST_LOG")
    if getattr(report, "node", None) is not None:  # the xdist controller's copy of a worker's report
        return
    if not path or (report.when != "call" and report.duration < 1):
        return
    with open("/proc/self/statm") as f:
        rss_gb = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(path, "a") as f:
        f.write(
            f"{report.duration:8.1f}s {rss_gb:5.1f}GB {worker} {report.when} {report.outcome} {report.nodeid}\n"
        )

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
# other worker idle at the end.
LONG_FIRST = (
    "test_xmrc_attribution.py", "test_sharding.py", "test_fault_injection.py", "test_xmrc.py",
    "test_tuned_lens.py", "test_knowledge_barriers.py", "test_mixed_language_finetune.py",
    "test_instruction_tune.py",
    "test_gemma3_parity.py", "test_train.py", "test_lens_cli.py", "test_surface.py",
    "test_attribution_parity.py", "test_attribution.py", "test_generation.py", "test_smollm2.py",
    "test_hf_families.py", "test_readme.py",
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


# Memory-heavy tests (training Gemma 3 270M: weights, gradients and two AdamW moments in fp32
# plus compilation, 8-12 GB; an 8-device worker process, up to 11 GB) take one lock shared by
# the xdist workers, so two of them never run at once: together they exceeded the 24 GB of
# the CI machine and the kernel killed a worker.
_MEMORY_LOCK: dict = {"depth": 0, "file": None, "dir": None}


@contextlib.contextmanager
def memory_heavy_lock():
    if _MEMORY_LOCK["depth"] == 0:
        f = open(Path(_MEMORY_LOCK["dir"] or tempfile.gettempdir()) / "xling-memory-heavy.lock", "w")  # noqa: SIM115
        fcntl.flock(f, fcntl.LOCK_EX)
        _MEMORY_LOCK["file"] = f
    _MEMORY_LOCK["depth"] += 1
    try:
        yield
    finally:
        _MEMORY_LOCK["depth"] -= 1
        if _MEMORY_LOCK["depth"] == 0:
            _MEMORY_LOCK["file"].close()  # releases the lock


def pytest_configure(config):
    config.addinivalue_line("markers", "memory_heavy: holds the suite-wide memory lock (conftest)")


@pytest.fixture(scope="session", autouse=True)
def _memory_lock_dir(tmp_path_factory):
    _MEMORY_LOCK["dir"] = tmp_path_factory.getbasetemp().parent  # shared by the xdist workers


@pytest.fixture(autouse=True)
def _memory_heavy(request):
    if request.node.get_closest_marker("memory_heavy") is None:
        yield
        return
    with memory_heavy_lock():
        yield


def run_on_8_devices(script: str, tmp_path, *args: str, timeout: int = 900) -> dict:
    """Run tests/workers/{script} in a fresh process with 8 simulated CPU devices (the suite
    keeps its one device) and return the JSON it writes to its last argument."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "result.json"
    worker = Path(__file__).parent / "workers" / script
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    with memory_heavy_lock():
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
    if not path or (report.when != "call" and report.duration < 1):
        return
    with open("/proc/self/statm") as f:
        rss_gb = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(path, "a") as f:
        f.write(
            f"{report.duration:8.1f}s {rss_gb:5.1f}GB {worker} {report.when} {report.outcome} {report.nodeid}\n"
        )

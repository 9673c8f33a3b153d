"""Shared fixtures. The real-model fixtures are session-scoped: loading Gemma 3
270M and its transformers reference once costs about a minute on 2 cores."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import suite_memory
from flax import nnx

from xling.models.config import ModelConfig
from xling.models.decoder import Decoder

# The longest test files (a minute or more each, measured), run first: with `make test`'s two
# xdist workers taking whole files (`--dist loadfile`), a long file picked up last would leave
# the other worker idle at the end. Files with memory-heavy tests (H) alternate with the others,
# so that the two workers rarely both wait for the one heavy place (suite_memory), and come
# early, while the workers' own resident size is still small. (`--no-loadscope-reorder` in the
# Makefile: by default xdist reorders files by their number of tests.)
LONG_FIRST = (
    "test_notebooks.py",  # H
    "test_xmrc_attribution.py", "test_sharding.py",  # H
    "test_fault_injection.py", "test_pivot_pretraining.py",  # H
    "test_attribution.py", "test_mixed_language_finetune.py",  # H
    "test_gemma3_parity.py", "test_train.py",  # H
    "test_knowledge_barriers.py", "test_sweep.py",  # H
    "test_generation.py", "test_instruction_tune.py",  # H
    "test_logit_lens.py", "test_hf_families.py", "test_surface.py", "test_tuned_lens.py",
    "test_xmrc.py", "test_lens_cli.py", "test_smollm2.py", "test_readme.py", "test_word_translation.py",
    "test_attention_runtime.py", "test_decoder.py", "test_attribution_parity.py", "test_scoring.py",
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


def memory_heavy_lock():
    """Inside a memory-heavy test (its own place, re-entered) or a fixture of one."""
    return suite_memory.admitted(heavy=True)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "memory_heavy(gb=12): reserves that much memory and excludes other heavy tests (suite_memory)",
    )
    suite_memory.configure()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    marker = item.get_closest_marker("memory_heavy")
    with suite_memory.admitted(heavy=marker is not None, gb=marker.kwargs.get("gb") if marker else None):
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
    return hf_reference(gemma.path)


def hf_reference(gguf_path):
    """transformers' model (fp32, eval mode) and tokenizer as transformers reads a GGUF file.

    Reading the GGUF is transformers' own conversion (its Python dequantization and tokenizer
    conversion: about 2 minutes for Gemma 3 270M on 2 cores), so it runs once per file and
    transformers version, across xdist workers and suite runs: the result is saved with
    `save_pretrained` (fp32 safetensors, tokenizer.json, chat template) into the model cache
    and loaded from there in seconds. The saved folder is transformers' serialization of the
    same objects, checked when it is made (weights bitwise, token ids)."""
    torch = pytest.importorskip("torch")
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from xling.cache import cached_dir, known_sha256
    from xling.registry import cache_root

    gguf_path = Path(gguf_path)

    def build(tmp: Path) -> None:
        kwargs = dict(gguf_file=gguf_path.name, dtype=torch.float32)
        model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), **kwargs)
        # transformers dequantizes a GGUF file into fp32 weights on load but still marks the
        # model "quantized with gguf", which save_pretrained refuses: drop the mark.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        tokenizer.save_pretrained(tmp)
        # The saved folder reads back as the same objects: weights bitwise, token ids.
        saved = AutoModelForCausalLM.from_pretrained(str(tmp), dtype=torch.float32).state_dict()
        fresh = model.state_dict()
        assert saved.keys() == fresh.keys() and all(torch.equal(saved[k], fresh[k]) for k in fresh)
        text = 'Deutsch: "Wasser" - 中文: "水" - Русский: «вода» 🙂\n\t  x'
        assert AutoTokenizer.from_pretrained(str(tmp))(text)["input_ids"] == tokenizer(text)["input_ids"]

    key = f"{known_sha256(gguf_path)[:16]}-transformers-{transformers.__version__}"
    folder = cached_dir(cache_root() / "test-references" / key, build, check=AutoConfig.from_pretrained)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    return model.eval(), AutoTokenizer.from_pretrained(str(folder))


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

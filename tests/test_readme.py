"""README's Python blocks run as written. (How long they take is a benchmark's business, not a
test's: a wall-clock bound fails on a loaded CI machine, not on slow code.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


def test_readme_has_python_blocks():
    assert _blocks()


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(_blocks())))
def test_readme_block_runs(index, gemma):  # the fixture assembles the model cache first
    out = subprocess.run(
        [sys.executable, "-c", _blocks()[index]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]

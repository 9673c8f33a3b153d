"""Writing figures into a workdir: atomically (a killed run leaves no half PNG), named safely."""

from __future__ import annotations

from pathlib import Path


def file_slug(name: str) -> str:
    """A model name or path as a file-name part ("org/model" -> "model", odd characters -> _)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(name.rstrip("/\\")).name)


def save_figure(fig, path: Path, dpi: int = 130) -> Path:
    """Save a matplotlib figure as PNG through a temporary file, then close it."""
    import matplotlib.pyplot as plt

    from xling.workdir import PARTIAL

    fig.tight_layout()
    tmp = path.with_name(f".{path.name}{PARTIAL}")
    fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path

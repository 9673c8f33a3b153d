"""A model cache that heals: entries are built under a temporary name and renamed into
place, verified on use, rebuilt (with one log line) when corrupt, and locked across
processes so that two runs resolving the same model never race.

    path = cached_file(root / "model.gguf", build=lambda tmp: write(tmp), sha256=EXPECTED)
    folder = cached_dir(root / "tokenizer", build=lambda tmp: save(tmp), check=lambda d: load(d))

A file's verified digest is remembered beside it with its size and mtime, so the full
hash is recomputed only when the file changed (e.g. was truncated) or was never checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from xling.errors import CheckpointError
from xling.faults import failpoint

log = logging.getLogger(__name__)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def known_sha256(path: str | Path) -> str:
    """A file's sha256, from the marker `cached_file` keeps beside it when the file is
    unchanged since it was verified; hashed otherwise."""
    path = Path(path)
    try:
        marker = json.loads(_marker(path).read_text())
        if {k: marker.get(k) for k in ("size", "mtime_ns")} == _stamp(path) and marker.get("sha256"):
            return marker["sha256"]
    except (OSError, ValueError):
        pass
    return sha256_file(path)


def _lock(path: Path) -> FileLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path.parent / f".{path.name}.lock"))


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _marker(path: Path) -> Path:
    return path.parent / f".{path.name}.verified"


def _verified(path: Path, sha256: str | None) -> bool:
    """The file is whole: its digest matches (the stat-keyed marker spares rehashing)."""
    if not path.is_file():
        return False
    if sha256 is None:
        return True
    marker = _marker(path)
    try:
        if json.loads(marker.read_text()) == {**_stamp(path), "sha256": sha256}:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != sha256:
        return False
    _write_marker(path, sha256)
    return True


def _write_marker(path: Path, sha256: str) -> None:
    tmp = _marker(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({**_stamp(path), "sha256": sha256}))
    os.replace(tmp, _marker(path))


def cached_file(dest: str | Path, build: Callable[[Path], object], sha256: str | None = None) -> Path:
    """`dest`, built by `build(tmp_path)` if missing or corrupt. With `sha256`, the file is
    verified on use and a build whose digest differs is an error (nothing is kept)."""
    dest = Path(dest)
    with _lock(dest):
        if _verified(dest, sha256):
            return dest
        if dest.exists():
            log.warning("%s is corrupt or incomplete (checksum mismatch); rebuilding it", dest)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            build(tmp)
            failpoint("cache.before_rename")
            if sha256 is not None:
                got = sha256_file(tmp)
                if got != sha256:
                    raise CheckpointError(
                        f"building {dest} gave sha256 {got[:16]}..., expected {sha256[:16]}..."
                    )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        if sha256 is not None:
            _write_marker(dest, sha256)
        return dest


def cached_dir(dest: str | Path, build: Callable[[Path], object], check: Callable[[Path], object]) -> Path:
    """A cached folder: `check(dest)` must succeed (it raises on a corrupt entry, which is
    then rebuilt with one log line); `build(tmp_dir)` fills a fresh folder that is renamed
    into place whole."""
    dest = Path(dest)
    with _lock(dest):
        if dest.is_dir():
            try:
                check(dest)
                return dest
            except Exception as e:  # any failure to read an entry means: rebuild it
                log.warning("%s is corrupt or incomplete (%s); rebuilding it", dest, _short(e))
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
        try:
            build(tmp)
            check(tmp)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return dest


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__

"""Experiment workdirs: preparation, atomic writes, the config-change check and units.

An experiment's results are split into units (a language pair, a (model, setting)
pair, ...), each written atomically to `units/` as soon as it is finished, so an
interrupted run loses at most the unit in progress and a re-run with the same config
skips finished units. Fields that only change the report (bootstrap resamples, plots,
progress bars) may change between runs; any other change is refused, so results of
different settings never mix in one workdir.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from xling.cache import sha256_file
from xling.errors import DataError, XlingError
from xling.faults import failpoint

log = logging.getLogger(__name__)
PARTIAL = ".partial"  # suffix of the temporary files of atomic writes (left by a kill)
_TRAILER = "_unit_complete"  # the last line of a finished unit file: {"_unit_complete": n}


def atomic_write(path: str | Path, text: str) -> None:
    """Write via a temp file + rename, so a reader never sees half a file. The file gets
    the mode a plain `open(path, "w")` would (umask respected), not mkstemp's 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            half = len(text) // 2
            f.write(text[:half])
            f.flush()
            failpoint("atomic_write.mid_write")
            f.write(text[half:])
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        failpoint("atomic_write.before_rename")
        os.replace(tmp, path)
        failpoint("atomic_write.after_rename")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise XlingError(f"{path}:{n}: not a JSON line ({e.msg})") from None
    return out


def file_digest(path: str | Path) -> str:
    """sha256 of a file's content (hex, first 16 bytes)."""
    return sha256_file(path)[:32]


def expand_files(patterns: Sequence[str]) -> list[Path]:
    """Files named by paths or glob patterns, sorted; a pattern that matches nothing is an error."""
    out = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern.strip())))
        if not matches:
            raise DataError(f"no file matches {pattern.strip()!r}")
        out += [Path(m) for m in matches if Path(m).is_file()]
    return out


def input_digests(files: Mapping[str, Sequence[Path]]) -> dict[str, str]:
    """{"field:path": digest} for every input file, for a workdir's fingerprint."""
    out = {}
    for field, paths in files.items():
        for path in paths:
            if not Path(path).is_file():
                raise DataError(f"config.{field}: no file at {path}")
            out[f"{field}:{Path(path).name}"] = file_digest(path)
    return out


def unit_key(model: str, *parts: str) -> str:
    """A unit file name for one model (registry name or path) and the unit's parts."""
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model.rstrip("/\\"))
    return "__".join((slug, *parts))


class Workdir:
    """One experiment's output directory. `units` names the subdirectory of unit files."""

    def __init__(self, path: str | Path, units: str = "units"):
        self.path = Path(path).expanduser()
        self.units = self.path / units

    def prepare(self) -> Workdir:
        """Create the directories and check they are writable (before any compute); remove
        the temporary files of atomic writes that a killed run left behind."""
        for d in (self.path, self.units):
            try:
                d.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=d):
                    pass
            except OSError as e:
                raise XlingError(f"{d} is not writable: {e.strerror or e}") from None
            for leftover in d.glob(f".*{PARTIAL}"):
                leftover.unlink(missing_ok=True)
        return self

    def check_config(self, config: dict, report_fields: Iterable[str] = ()) -> None:
        """Refuse to mix results of different settings; `report_fields` (top-level names, or
        dotted ones such as "embedding.centre") may change."""
        path = self.path / "config.json"
        if not path.is_file():
            return
        old = json.loads(path.read_text(encoding="utf-8"))
        config = json.loads(json.dumps(config))  # as it was stored: tuples read back as lists
        free = {f for f in report_fields if "." not in f}
        for dotted in (f for f in report_fields if "." in f):
            *parents, leaf = dotted.split(".")
            for tree in (old, config):
                for key in parents:
                    tree = tree.get(key) if isinstance(tree, dict) else None
                if isinstance(tree, dict):
                    tree.pop(leaf, None)
        changed = sorted(k for k in set(old) | set(config) if k not in free and old.get(k) != config.get(k))
        if changed:
            raise XlingError(
                f"{self.path} holds results of a different config (changed: {', '.join(changed)}); "
                "use a new --workdir or delete the old one"
            )

    def start(self, config: dict, report_fields: Iterable[str] = ()) -> Workdir:
        """prepare + check_config + write_config: the opening of every experiment's run."""
        self.prepare()
        self.check_config(config, report_fields)
        self.write_config(config)
        return self

    def write_config(self, config: dict) -> None:
        atomic_write(self.path / "config.json", json.dumps(config, indent=2, ensure_ascii=False) + "\n")

    def unit(self, name: str) -> Path:
        return self.units / f"{name}.jsonl"

    def done(self, name: str) -> bool:
        """Finished: the unit file exists and ends with its trailer (the record count). An
        empty, truncated or hand-edited file is not finished: it is recomputed, with a warning."""
        path = self.unit(name)
        if not path.is_file():
            return False
        try:
            self.read_unit(name)
            return True
        except XlingError as e:
            log.warning("%s: %s; recomputing this unit", path, e)
            return False

    def write_unit(self, name: str, records: Iterable[dict]) -> None:
        records = list(records)
        write_jsonl(self.unit(name), [*records, {_TRAILER: len(records)}])

    def read_unit(self, name: str) -> list[dict]:
        path = self.unit(name)
        records = read_jsonl(path)
        if not records or set(records[-1]) != {_TRAILER}:
            raise XlingError(f"{path}: incomplete unit file (no end marker)")
        if records[-1][_TRAILER] != len(records) - 1:
            raise XlingError(
                f"{path}: holds {len(records) - 1} records, its end marker says {records[-1][_TRAILER]}"
            )
        return records[:-1]

    def write(self, name: str, text: str) -> None:
        atomic_write(self.path / name, text)

"""Experiment workdirs: preparation, atomic writes, the config-change check and units.

An experiment's results are split into units (a language pair, a (model, setting)
pair, ...), each written atomically to `units/` as soon as it is finished, so an
interrupted run loses at most the unit in progress and a re-run with the same config
skips finished units. Fields that only change the report (bootstrap resamples, plots,
progress bars) may change between runs; any other change is refused, so results of
different settings never mix in one workdir.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from xling.errors import XlingError


def atomic_write(path: str | Path, text: str) -> None:
    """Write via a temp file + rename, so a reader never sees half a file. The file gets
    the mode a plain `open(path, "w")` would (umask respected), not mkstemp's 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
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


class Workdir:
    """One experiment's output directory. `units` names the subdirectory of unit files."""

    def __init__(self, path: str | Path, units: str = "units"):
        self.path = Path(path).expanduser()
        self.units = self.path / units

    def prepare(self) -> Workdir:
        """Create the directories and check they are writable (before any compute)."""
        for d in (self.path, self.units):
            try:
                d.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=d):
                    pass
            except OSError as e:
                raise XlingError(f"{d} is not writable: {e.strerror or e}") from None
        return self

    def check_config(self, config: dict, report_fields: Iterable[str] = ()) -> None:
        """Refuse to mix results of different settings; `report_fields` may change."""
        path = self.path / "config.json"
        if not path.is_file():
            return
        old = json.loads(path.read_text(encoding="utf-8"))
        free = set(report_fields)
        changed = sorted(k for k in set(old) | set(config) if k not in free and old.get(k) != config.get(k))
        if changed:
            raise XlingError(
                f"{self.path} holds results of a different config (changed: {', '.join(changed)}); "
                "use a new --workdir or delete the old one"
            )

    def write_config(self, config: dict) -> None:
        atomic_write(self.path / "config.json", json.dumps(config, indent=2, ensure_ascii=False) + "\n")

    def unit(self, name: str) -> Path:
        return self.units / f"{name}.jsonl"

    def done(self, name: str) -> bool:
        return self.unit(name).is_file()

    def write_unit(self, name: str, records: Iterable[dict]) -> None:
        write_jsonl(self.unit(name), records)

    def read_unit(self, name: str) -> list[dict]:
        return read_jsonl(self.unit(name))

    def write(self, name: str, text: str) -> None:
        atomic_write(self.path / name, text)

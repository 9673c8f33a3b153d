"""Finding the finished runs under a directory: a sweep's points, or single workdirs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from xling.errors import DataError
from xling.workdir import read_jsonl


@dataclasses.dataclass
class Run:
    """One finished experiment workdir."""

    name: str  # the sweep point's name (the directory's)
    path: Path
    experiment: str
    config: dict
    summary: dict

    def records(self) -> list[dict]:
        """The per-example records (results.jsonl); some statistics need them (paired CIs)."""
        path = self.path / "results.jsonl"
        if not path.is_file():
            raise DataError(f"{self.path}: no results.jsonl (the per-example records)")
        return read_jsonl(path)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object")
    return value


def load_run(path: Path) -> Run:
    config_path = path / "config.json"
    if not config_path.is_file():
        raise DataError(f"{path} has summary.json but no config.json: not an xling workdir")
    config = _read_json(config_path)
    experiment = config.get("experiment")
    if not isinstance(experiment, str):
        raise DataError(f"{config_path}: no experiment name")
    return Run(path.name, path, experiment, config, _read_json(path / "summary.json"))


def collect(dirs: Sequence[str | Path]) -> list[Run]:
    """Every finished run: each directory itself if it holds summary.json, else its
    subdirectories that do (a sweep's points; unfinished points are left out)."""
    runs = []
    for d in dirs:
        d = Path(d).expanduser()
        if not d.is_dir():
            raise DataError(f"{d} is not a directory")
        if (d / "summary.json").is_file():
            runs.append(load_run(d))
            continue
        found = sorted(p.parent for p in d.glob("*/summary.json") if not p.parent.name.startswith("_"))
        runs += [load_run(p) for p in found]
    if not runs:
        raise DataError(f"no summary.json in {', '.join(map(str, dirs))} or its subdirectories")
    return runs

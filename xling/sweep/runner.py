"""Run a sweep's points into one directory, one experiment workdir per point.

    DIR/<point>/            the point's experiment workdir (summary.json, units, plots)
    DIR/_sweep/points.json  every point ever run here: config file, overrides, resources
    DIR/_sweep/status.json  the last state of each point: done, failed (exit status), skipped
    DIR/_sweep/<point>.log  the point's output (appended on each attempt)
    DIR/_sweep/<point>.done.json  written when the point ended well: its command and time

A point is skipped when its `.done.json` records the same command; any other point runs,
and the experiment resumes its own finished units, so nothing finished is recomputed. A
point that fails is reported with the end of its log and does not stop the others.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from xling.sweep.engine import Launch, RayEngine, Resources
from xling.sweep.spec import Point, flag_value
from xling.workdir import atomic_write

log = logging.getLogger(__name__)
META = "_sweep"


@dataclasses.dataclass
class Outcome:
    """What a sweep did: point names by state."""

    done: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> log path


class Sweep:
    """The points of one sweep in one directory."""

    def __init__(self, points: Sequence[Point], workdir: str | Path, python: str):
        self.points = list(points)
        self.dir = Path(workdir).expanduser().resolve()
        self.meta = self.dir / META
        self.python = python
        self.cwd = os.getcwd()

    def command(self, point: Point, extra: Sequence[str] = ()) -> list[str]:
        return [self.python, "-m", "xling.main", f"--config={point.config_file}",
                f"--workdir={self.dir / point.name}", *point.flags(), *extra]  # fmt: skip

    def log_path(self, point: Point, host: int | None = None) -> Path:
        return self.meta / (f"{point.name}.log" if host is None else f"{point.name}.host{host}.log")

    def finished(self, point: Point) -> bool:
        marker = self.meta / f"{point.name}.done.json"
        if not marker.is_file() or not (self.dir / point.name / "summary.json").is_file():
            return False
        return json.loads(marker.read_text(encoding="utf-8")).get("command") == self._stable(point)

    def _stable(self, point: Point) -> list[str]:
        # The interpreter may differ between a local and a cluster run of the same sweep.
        return self.command(point)[1:]

    def launches(self, point: Point, resources: Resources, addresses) -> list[Launch]:
        if addresses is None:
            return [Launch(self.command(point), str(self.log_path(point)), self.cwd)]
        coordinator = f"{addresses[0][0]}:{addresses[0][1]}"
        return [
            Launch(self.command(point, [
                "--config.mesh.distributed=True", f"--config.mesh.coordinator_address={coordinator}",
                f"--config.mesh.num_processes={resources.hosts}", f"--config.mesh.process_id={i}",
            ]), str(self.log_path(point, i)), self.cwd)
            for i in range(resources.hosts)
        ]  # fmt: skip

    def write_index(self) -> None:
        """points.json: this sweep's points, added to those of earlier sweeps into this directory."""
        self.meta.mkdir(parents=True, exist_ok=True)
        path = self.meta / "points.json"
        index = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        for p in self.points:
            index[p.name] = {"config": p.config_file, "overrides": {k: _jsonable(v) for k, v in p.overrides.items()},
                             "resources": _jsonable(p.resources)}  # fmt: skip
        atomic_write(path, json.dumps(index, indent=2, ensure_ascii=False) + "\n")

    def set_status(self, name: str, **state) -> None:
        path = self.meta / "status.json"
        status = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        status[name] = state
        atomic_write(path, json.dumps(status, indent=2) + "\n")

    def dry_run(self) -> str:
        lines = [f"{len(self.points)} points into {self.dir}:"]
        for p in self.points:
            state = "done" if self.finished(p) else "to run"
            lines.append(f"  {p.name} [{state}]: {shlex.join(self.command(p))}")
        return "\n".join(lines)

    def run(self, engine: RayEngine, resource_flags, max_concurrent: int = 0) -> Outcome:
        out = Outcome()
        self.write_index()
        todo = []
        for p in self.points:
            resources = Resources.resolve(p.resources, resource_flags)  # bad resources fail first
            if self.finished(p):
                out.skipped.append(p.name)
                log.info("%s: finished earlier, kept", p.name)
            else:
                todo.append((p, resources))
        if not todo:
            return out
        total, running = len(todo), {}
        with engine.started():
            try:
                while todo or running:
                    while todo and (not max_concurrent or len(running) < max_concurrent):
                        p, resources = todo.pop(0)
                        handle = engine.submit(resources, lambda a, p=p, r=resources: self.launches(p, r, a))
                        running[id(handle)] = (p, handle, time.time())
                        self.set_status(p.name, state="running", log=str(self.log_path(p)))
                    for handle, rc in engine.wait([h for _, h, _ in running.values()]):
                        p, _, start = running.pop(id(handle))
                        self._finish(p, rc, time.time() - start, out, total)
            except BaseException:
                engine.cancel([h for _, h, _ in running.values()])
                for p, _, _ in running.values():
                    self.set_status(p.name, state="interrupted", log=str(self.log_path(p)))
                raise
        return out

    def _finish(self, p: Point, rc: int, wall_s: float, out: Outcome, total: int) -> None:
        n = len(out.done) + len(out.failed) + 1
        logs = sorted(self.meta.glob(f"{p.name}.log")) + sorted(self.meta.glob(f"{p.name}.host*.log"))
        if rc == 0 and (self.dir / p.name / "summary.json").is_file():
            marker = {"command": self._stable(p), "wall_s": round(wall_s, 1), "finished": time.time()}
            atomic_write(self.meta / f"{p.name}.done.json", json.dumps(marker, indent=2) + "\n")
            self.set_status(p.name, state="done", wall_s=round(wall_s, 1), log=str(logs[0]))
            out.done.append(p.name)
            print(f"[{n}/{total}] {p.name}: done in {wall_s:.0f}s", flush=True)
            return
        reason = f"exit status {rc}" if rc else "no summary.json written"
        self.set_status(p.name, state="failed", rc=rc, wall_s=round(wall_s, 1), log=str(logs[0]))
        out.failed[p.name] = str(logs[0])
        tail = "".join(f"    {line}\n" for line in _tail(logs[0]))
        print(f"[{n}/{total}] {p.name}: FAILED ({reason}); log: {logs[0]}\n{tail}", end="", flush=True)


def _tail(path: Path, lines: int = 5) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value if isinstance(value, (str, int, float, bool, list)) or value is None else flag_value(value)

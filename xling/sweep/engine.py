"""Points run as Ray tasks: each one a `python -m xling.main ...` process on the node Ray picks.

Why a process per point inside the task, not the experiment in the Ray worker itself: a point
owns its accelerators and its XLA client for its whole life, and gives them back entirely
when it ends (JAX cannot release a backend in a long-lived worker); a point that runs out
of memory or crashes takes down its process, not a worker that would take the next point;
and the point's command is the one a user would type, written next to its log, so any
point reproduces by hand. The child dies with its worker (PR_SET_PDEATHSIG): a cancelled
or killed sweep leaves no orphan runs, and each child ends as an interrupted run does,
keeping its finished units.

Multi-host points (`hosts > 1`) take a placement group of one bundle per host and run one
process per bundle with `mesh.distributed` set: the coordinator is the first bundle's node.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from xling.errors import XlingError

_PR_SET_PDEATHSIG = 1


def default_config() -> ml_collections.ConfigDict:
    """The `--sweep.*` flags: where points run and what each claims."""
    c = ml_collections.ConfigDict()
    # "" = a local Ray instance on this machine; "auto" = the cluster this node belongs to
    # (`ray start` on each node); "ray://HOST:10001" = a remote cluster's client port.
    c.address = ""
    # Local instance only: CPUs Ray may hand out (0 = every core).
    c.num_cpus = 0
    # At most this many points at once (0 = as many as the resources allow).
    c.max_concurrent = 0
    c.python = ""  # the interpreter of the points ("" = this one locally, `python` on a cluster)
    # What one point claims. Unset fields take the point's own `resources` (from the
    # config's get_sweep), then the defaults of `Resources`.
    c.resources = ml_collections.ConfigDict()
    c.resources.num_cpus = ml_collections.FieldReference(None, field_type=float)
    c.resources.num_gpus = ml_collections.FieldReference(None, field_type=float)
    c.resources.memory_gb = ml_collections.FieldReference(None, field_type=float)
    c.resources.hosts = ml_collections.FieldReference(None, field_type=int)
    c.resources.strategy = ml_collections.FieldReference(None, field_type=str)
    # Custom Ray resources as a literal dict, e.g. "{'TPU': 4}" on a TPU VM host.
    c.resources.custom = ml_collections.FieldReference(None, field_type=str)
    return c


@dataclasses.dataclass(frozen=True)
class Resources:
    """What one point claims from Ray (per host, for multi-host points)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_gb: float = 0.0  # Ray's `memory` resource: points that would not fit wait
    hosts: int = 1
    strategy: str = "STRICT_SPREAD"  # placement of multi-host bundles: one per node
    custom: Mapping[str, float] = dataclasses.field(default_factory=dict)  # {"TPU": 4}

    @classmethod
    def resolve(cls, declared: Mapping[str, Any], flags: ml_collections.ConfigDict) -> Resources:
        """Defaults <- the point's declared resources <- the `--sweep.resources.*` flags set."""
        values = dict(declared)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise XlingError(f"unknown resources {sorted(unknown)} (known: num_cpus, num_gpus, "
                             "memory_gb, hosts, strategy, custom)")  # fmt: skip
        for key, value in flags.items():
            if value is not None:
                values[key] = _literal_dict(value) if key == "custom" else value
        r = cls(**values)
        if r.hosts < 1 or r.num_cpus < 0 or r.num_gpus < 0:
            raise XlingError(f"resources must be positive: {r}")
        if r.strategy not in ("STRICT_SPREAD", "SPREAD", "PACK", "STRICT_PACK"):
            raise XlingError(f"resources.strategy {r.strategy!r} is not a Ray placement strategy")
        return r

    def bundle(self) -> dict[str, float]:
        out = {"CPU": self.num_cpus, **self.custom}
        if self.num_gpus:
            out["GPU"] = self.num_gpus
        if self.memory_gb:
            out["memory"] = self.memory_gb * 2**30
        return out

    def task_options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.custom:
            out["resources"] = dict(self.custom)
        if self.memory_gb:
            out["memory"] = self.memory_gb * 2**30
        return out


def _literal_dict(text: str) -> dict[str, float]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, dict):
        raise XlingError(
            f"--sweep.resources.custom must be a dict literal like \"{{'TPU': 4}}\", got {text!r}"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Launch:
    """One process of a point: its command, where it logs, and its environment additions."""

    command: list[str]
    log: str
    cwd: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_process(launch: Launch) -> int:
    """Run one point process to its end, its output appended to its log; its exit status."""
    Path(launch.log).parent.mkdir(parents=True, exist_ok=True)
    with open(launch.log, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(launch.command)}\n")
        log.flush()
        proc = subprocess.Popen(
            launch.command, cwd=launch.cwd, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **launch.env}, preexec_fn=_die_with_parent,
        )  # fmt: skip
        try:
            return proc.wait()
        except BaseException:  # the task was cancelled: end the run as an interrupt does
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
            proc.kill()
            raise


def _node_address() -> tuple[str, int]:
    """This node's IP and a free port, for a multi-host point's coordinator."""
    import ray

    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    return ray.util.get_node_ip_address(), port


class RayEngine:
    """Submits point processes to Ray and yields their exit statuses as they finish."""

    def __init__(self, flags: ml_collections.ConfigDict):
        self.flags = flags
        self.local = not flags.address

    def python(self) -> str:
        return self.flags.python or (sys.executable if self.local else "python")

    @contextlib.contextmanager
    def started(self) -> Iterator[RayEngine]:
        import ray

        kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False,
                                  "log_to_driver": False}  # fmt: skip
        if self.local:
            # A private instance for this sweep; its session files live under /tmp/ray.
            kwargs["num_cpus"] = self.flags.num_cpus or os.cpu_count()
        else:
            kwargs["address"] = self.flags.address
        os.environ.setdefault("RAY_ACCEPT_USAGE_STATS_PROMPT", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network from the sweep
        # ray.init installs a SIGTERM handler that dumps a stack and kills the driver; keep
        # the CLI's (an interrupt: cancel the running points, keep the finished ones).
        previous = signal.getsignal(signal.SIGTERM)
        ray.init(**kwargs)
        signal.signal(signal.SIGTERM, previous)
        try:
            yield self
        finally:
            ray.shutdown()

    def submit(self, resources: Resources, launches: Callable[[list[tuple[str, int]] | None], list[Launch]]):
        """Start a point: `launches(addresses)` builds its process list (addresses of the hosts
        for multi-host points). Returns a handle for `wait`."""
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        task = ray.remote(max_retries=0)(run_process)
        if resources.hosts == 1:
            return _Handle([task.options(**resources.task_options()).remote(launches(None)[0])], None)
        pg = ray.util.placement_group([resources.bundle()] * resources.hosts, strategy=resources.strategy)
        ray.get(pg.ready())
        where = ray.remote(num_cpus=0)(_node_address)
        addresses = ray.get([
            where.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, i)).remote()
            for i in range(resources.hosts)
        ])  # fmt: skip
        refs = [
            task.options(**resources.task_options(),
                         scheduling_strategy=PlacementGroupSchedulingStrategy(pg, i)).remote(launch)
            for i, launch in enumerate(launches(addresses))
        ]  # fmt: skip
        return _Handle(refs, pg)

    def wait(self, handles: Sequence[_Handle], timeout: float | None = None) -> list[tuple[_Handle, int]]:
        """The handles that finished (each with its worst exit status), blocking until one has."""
        import ray

        pending = [r for h in handles for r in h.refs]
        if not pending:
            return []
        ray.wait(pending, num_returns=1, timeout=timeout)
        done = []
        for h in handles:
            ready, _ = ray.wait(h.refs, num_returns=len(h.refs), timeout=0)
            if len(ready) == len(h.refs):
                done.append((h, h.status()))
        return done

    def cancel(self, handles: Sequence[_Handle]) -> None:
        import ray

        for h in handles:
            for ref in h.refs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            h.release()
        time.sleep(0.5)  # let the workers' deaths reach their children


@dataclasses.dataclass
class _Handle:
    refs: list
    pg: Any

    def status(self) -> int:
        import ray

        codes = []
        for ref in self.refs:
            try:
                codes.append(int(ray.get(ref)))
            except Exception:  # the worker died (OOM kill, node lost): a failed point
                codes.append(-1)
        self.release()
        return next((c for c in codes if c != 0), 0)

    def release(self) -> None:
        if self.pg is not None:
            import ray

            with contextlib.suppress(Exception):
                ray.util.remove_placement_group(self.pg)
            self.pg = None

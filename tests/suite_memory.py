"""Memory admission for the suite's xdist workers (the CI machine has 24 GB and 2 cores).

Each test reserves the memory it may add while it runs: `NORMAL_GB` by default (a CLI
subprocess on an embedded model, a notebook kernel, a reference model a fixture loads), its
marker's `gb` for a memory-heavy one (`@pytest.mark.memory_heavy(gb=...)`: an 8-device worker
process, a training run). A test starts when the machine's available memory covers its
reservation, what the running tests have not yet used of theirs, and a margin; memory-heavy
tests also exclude each other; a test with no other test running always starts.

Why not simply run every heavy test alone (the earlier rule): that left the other worker idle
for 13 of the suite's 33 minutes, though most heavy tests leave room for a normal one beside
them. Why any rule: two heavy tests at once went past 24 GB, and the OOM-killed worker then left
pytest-xdist waiting forever. A heavy test that is waiting holds back a normal test that would
leave it no room, so a stream of short tests cannot starve it.

The ledger (running and waiting tests: pid, reservation, resident size at start) is a JSON file
in the temporary directory, read and written under an flock; entries of dead processes are
dropped, so an interrupted suite leaves nothing that blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path

import psutil

NORMAL_GB = 4.0
HEAVY_GB = 12.0  # an 8-device worker with Gemma 3 270M on four meshes: 11.3 GB measured
MARGIN_GB = 1.5
_GB = 2**30
_POLL_S = 0.5

_state: dict = {"dir": None, "entry": None, "depth": 0}


def configure(directory: str | None = None) -> None:
    """One directory for every worker of a suite (each xdist worker has its own basetemp)."""
    _state["dir"] = directory or tempfile.gettempdir()


def _tree_gb(pid: int) -> float:
    """Resident size of a process and all its descendants (shared pages count twice: an
    overestimate, on the safe side)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / _GB


@contextlib.contextmanager
def _ledger():
    root = Path(_state["dir"] or tempfile.gettempdir())
    with open(root / "xling-suite-ledger.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / "xling-suite-ledger.json"
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            entries = {}
        entries = {pid: e for pid, e in entries.items() if psutil.pid_exists(int(pid))}
        yield entries
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, path)


def _unspent(entry: dict, pid: str) -> float:
    return max(0.0, entry["gb"] - max(0.0, _tree_gb(int(pid)) - entry["base"]))


def _try_admit(entries: dict, me: str, gb: float, heavy: bool) -> bool:
    others = {p: e for p, e in entries.items() if p != me}
    running = {p: e for p, e in others.items() if e["state"] == "running"}
    if heavy and any(e["heavy"] for e in running.values()):
        return False
    # A normal test leaves room for a heavy one that waits, even when nothing runs yet.
    waiting = [e["gb"] for e in others.values() if e["heavy"] and e["state"] == "waiting"]
    held_back = 0.0 if heavy else max(waiting, default=0.0)
    if running or held_back:
        room = psutil.virtual_memory().available / _GB - MARGIN_GB
        room -= sum(_unspent(e, p) for p, e in running.items())
        if room < gb + held_back:
            return False
    entries[me] = {"gb": gb, "heavy": heavy, "state": "running", "base": _tree_gb(int(me))}
    return True


@contextlib.contextmanager
def admitted(heavy: bool, gb: float | None = None):
    """Hold a place for the current test (re-entered inside it: a fixture or a step of a
    memory-heavy test asks again and gets the place it already has)."""
    entry = _state["entry"]
    if entry is not None:
        if heavy and not entry["heavy"]:
            raise RuntimeError("a memory-heavy step in a test not marked @pytest.mark.memory_heavy")
        _state["depth"] += 1
        try:
            yield
        finally:
            _state["depth"] -= 1
        return
    gb = gb if gb is not None else (HEAVY_GB if heavy else NORMAL_GB)
    me = str(os.getpid())
    while True:
        with _ledger() as entries:
            if _try_admit(entries, me, gb, heavy):
                break
            entries[me] = {"gb": gb, "heavy": heavy, "state": "waiting", "base": 0.0}
        time.sleep(_POLL_S)
    _state["entry"] = {"heavy": heavy}
    try:
        yield
    finally:
        _state["entry"] = None
        with _ledger() as entries:
            entries.pop(me, None)

"""Failpoints for fault-injection tests: named places where a test can have the process
killed (SIGKILL, no cleanup) to prove that an interrupted run loses nothing.

    XLING_FAILPOINTS="atomic_write.before_rename=3"  # die at the 3rd time that point is hit

Unset (the normal case) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "XLING_FAILPOINTS"
_PLAN: dict[str, int] | None = None
_HITS: dict[str, int] = {}


def _plan() -> dict[str, int]:
    global _PLAN
    if _PLAN is None:
        spec = os.environ.get(ENV, "")
        _PLAN = {}
        for item in filter(None, (x.strip() for x in spec.split(","))):
            name, _, count = item.partition("=")
            _PLAN[name] = int(count or 1)
    return _PLAN


def failpoint(name: str) -> None:
    """Kill this process here if the environment asks for it at this hit of `name`."""
    plan = _plan()
    if name not in plan:
        return
    _HITS[name] = _HITS.get(name, 0) + 1
    if _HITS[name] == plan[name]:
        os.kill(os.getpid(), signal.SIGKILL)

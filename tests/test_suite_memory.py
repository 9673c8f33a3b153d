"""The suite's memory admission (tests/suite_memory.py), on ledgers made here: the rule that
keeps two xdist workers inside the CI machine's memory."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import suite_memory
from suite_memory import _try_admit

ME, OTHER = str(os.getpid()), "1"


@pytest.fixture
def machine(monkeypatch):
    """`available` GB free; every process's tree at `rss[pid]` GB."""
    state = {"available": 20.0, "rss": {ME: 3.0, OTHER: 3.0}}
    monkeypatch.setattr(
        suite_memory.psutil, "virtual_memory", lambda: SimpleNamespace(available=state["available"] * 2**30)
    )
    monkeypatch.setattr(suite_memory, "_tree_gb", lambda pid: state["rss"].get(str(pid), 0.0))
    return state


def running(gb, heavy, base=3.0):
    return {"gb": gb, "heavy": heavy, "state": "running", "base": base}


def test_alone_always_starts_and_records_its_place(machine):
    machine["available"] = 1.0
    entries = {}
    assert _try_admit(entries, ME, 12.0, heavy=True)
    assert entries[ME] == {"gb": 12.0, "heavy": True, "state": "running", "base": 3.0}


def test_heavy_tests_exclude_each_other_whatever_the_room(machine):
    assert not _try_admit({OTHER: running(5.0, True)}, ME, 5.0, heavy=True)
    assert _try_admit({OTHER: running(5.0, False)}, ME, 5.0, heavy=True)


def test_room_counts_what_running_tests_have_not_used_yet(machine):
    # 20 GB free, margin 1.5: a heavy test that reserved 8 and has grown by 2 still holds 6.
    machine["rss"][OTHER] = 5.0
    entries = {OTHER: running(8.0, True)}
    assert _try_admit(dict(entries), ME, 12.0, heavy=False)  # 20 - 1.5 - 6 = 12.5 >= 12
    assert not _try_admit(dict(entries), ME, 13.0, heavy=False)
    machine["rss"][OTHER] = 11.0  # grown past its reservation: holds nothing more
    machine["available"] = 6.0
    assert _try_admit(dict(entries), ME, 4.0, heavy=False)  # 6 - 1.5 >= 4
    machine["available"] = 5.0
    assert not _try_admit(dict(entries), ME, 4.0, heavy=False)


def test_a_waiting_heavy_test_holds_back_normal_ones_that_would_leave_it_no_room(machine):
    waiting = {OTHER: {"gb": 12.0, "heavy": True, "state": "waiting", "base": 0.0}}
    machine["available"] = 15.0
    assert not _try_admit(dict(waiting), ME, 4.0, heavy=False)  # 15 - 1.5 < 4 + 12, nothing running
    machine["available"] = 18.0
    assert _try_admit(dict(waiting), ME, 4.0, heavy=False)  # both fit
    # a waiting normal test holds nothing back
    assert _try_admit({OTHER: {"gb": 4.0, "heavy": False, "state": "waiting", "base": 0.0}}, ME, 4.0, False)


def test_a_memory_heavy_step_in_a_normal_test_is_refused():
    with (
        pytest.raises(RuntimeError, match=r"not marked @pytest\.mark\.memory_heavy"),
        suite_memory.admitted(True),
    ):
        pass  # this test holds a normal place (conftest), so asking for a heavy one is a bug

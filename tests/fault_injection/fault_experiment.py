"""A small experiment on xling's own plumbing (workdir, atomic units, the healing cache),
cheap enough to be killed at every failpoint many times over."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from xling.cache import cached_file
from xling.workdir import Workdir

PAYLOAD = b"weights" * 4096
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def run(config, workdir) -> None:
    work = Workdir(workdir).prepare()
    cfg = config.to_dict()
    work.check_config(cfg, ("log",))
    work.write_config(cfg)
    model = cached_file(Path(config.cache) / "model.bin", lambda tmp: tmp.write_bytes(PAYLOAD), SHA)
    seed = hashlib.sha256(model.read_bytes()).hexdigest()[:8]
    units = [f"u{i}" for i in range(config.units)]
    for unit in units:
        if work.done(unit):
            continue
        with open(config.log, "a", encoding="utf-8") as log:  # which units were computed, when
            log.write(unit + "\n")
        work.write_unit(unit, [{"unit": unit, "i": i, "v": f"{seed}-{unit}-{i * i}"} for i in range(200)])
    records = [r for u in units for r in work.read_unit(u)]
    work.write("results.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    work.write("summary.json", json.dumps({"n": len(records), "units": units}, indent=2) + "\n")

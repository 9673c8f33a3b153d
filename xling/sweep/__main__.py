"""`python -m xling.sweep --config=FILE[:variant] --workdir=DIR`: run a config's sweep.

`--config.FIELD=VALUE` overrides the sweep file's own config (and so every point that runs
it); `--sweep.*` says where points run and what each claims (xling.sweep.engine). Exit
status 0 when every point finished, 1 when any failed (each reported with its log), 2 for
an error in the sweep itself.
"""

from __future__ import annotations

import logging
import sys
import time

from absl import app, flags
from ml_collections import config_flags

from xling import cli
from xling.sweep import engine, runner, spec

_CONFIG = config_flags.DEFINE_config_file("config", None, "A config file with get_config and get_sweep.")
_SWEEP = config_flags.DEFINE_config_dict("sweep", engine.default_config(), "Where and how points run.")
_WORKDIR = flags.DEFINE_string("workdir", None, "One sub-workdir per point; re-running resumes.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "List the points (and which are finished); run nothing.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.getLogger().setLevel(logging.INFO)
    sweep_file = config_flags.get_config_filename(flags.FLAGS["config"])
    overrides = config_flags.get_override_values(flags.FLAGS["config"])
    outcome = None

    def body() -> None:
        nonlocal outcome
        points = spec.expand(sweep_file, overrides)
        ray_engine = engine.RayEngine(_SWEEP.value)
        sweep = runner.Sweep(points, _WORKDIR.value, ray_engine.python())
        if _DRY_RUN.value:
            print(sweep.dry_run())
            return
        start = time.perf_counter()
        outcome = sweep.run(ray_engine, _SWEEP.value.resources, _SWEEP.value.max_concurrent)
        print(f"sweep: {len(outcome.done)} run, {len(outcome.skipped)} finished earlier, "
              f"{len(outcome.failed)} failed, in {time.perf_counter() - start:.0f}s; "
              f"results in {sweep.dir} (python -m xling.aggregate {sweep.dir})")  # fmt: skip

    cli.guarded(body, f"finished points are kept in {_WORKDIR.value}; re-run the same command to resume")
    if outcome is not None and outcome.failed:
        names = ", ".join(f"{n} (log: {p})" for n, p in outcome.failed.items())
        print(f"error: {len(outcome.failed)} point(s) failed: {names}", file=sys.stderr)
        sys.exit(1)


def run() -> None:
    app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()

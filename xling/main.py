"""Run an experiment config: `python -m xling.main --config=experiments/NAME.py --workdir=DIR`.

Any config field can be overridden: `--config.pairs=fr-zh,de-en --config.num_concepts=100`.
A `:variant` suffix selects a preset, e.g. `--config=experiments/word_translation.py:runlocal`.
Errors are one line (exit 2); `--verbose` shows the traceback.
"""

from __future__ import annotations

import logging
import time

from absl import app, flags
from ml_collections import config_flags

from xling import cli, experiments

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (experiments/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where results are written; re-running resumes.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = _CONFIG.value
    name = config.get("experiment")
    logging.getLogger().setLevel(logging.INFO)
    start = time.perf_counter()
    cli.guarded(
        lambda: experiments.find(name).run(config, _WORKDIR.value),
        f"finished units are kept in {_WORKDIR.value}; re-run the same command to resume",
    )
    print(f"{name}: done in {time.perf_counter() - start:.0f}s; results in {_WORKDIR.value}")


def run() -> None:
    app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()

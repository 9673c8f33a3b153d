"""Run an experiment config: `python -m xling.main --config=experiments/NAME.py --workdir=DIR`.

Any config field can be overridden: `--config.pairs=fr-zh,de-en --config.num_concepts=100`.
A `:variant` suffix selects a preset, e.g. `--config=experiments/word_translation.py:runlocal`.
"""

from __future__ import annotations

import logging
import re
import sys
import time

from absl import app, flags
from ml_collections import config_flags

from xling import experiments
from xling.errors import XlingError

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
    try:
        experiments.find(name).run(config, _WORKDIR.value)
    except (XlingError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"{name}: done in {time.perf_counter() - start:.0f}s; results in {_WORKDIR.value}")


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with config errors (e.g. an unknown --config.field, which ml_collections
    raises as a KeyError) reported in one line instead of a traceback."""
    try:
        return flags.FLAGS(argv)
    except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as e:
        message = str(e)
        # ml_collections reports an override of a field the config lacks as a bare quoted key.
        if key := re.fullmatch(r"""["']*([\w.]+)["']*""", message):
            message = f"the config has no field {key.group(1)!r}"
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def run() -> None:
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()

"""Sweeps: a config file's `get_sweep` expands into named points, run as Ray tasks.

    python -m xling.sweep --config=experiments/sweeps/models.py:runlocal --workdir=runs/models
    python -m xling.sweep --config=... --workdir=... --dry_run          # list the points
    python -m xling.sweep --config=... --workdir=... --sweep.address=auto  # on a Ray cluster

`spec` expands definitions (product, zip, chain) and checks every field; `engine` runs
point processes on Ray (local instance by default); `runner` lays out the directory, skips
finished points and isolates failed ones. `python -m xling.aggregate DIR` reads the results.
"""

from xling.sweep.spec import Point, SweepError, expand

__all__ = ["Point", "SweepError", "expand"]

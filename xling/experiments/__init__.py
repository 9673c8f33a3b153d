"""Experiments, discovered by name: `xling/experiments/NAME.py` with a `run(config, workdir)`.

A config's `experiment` field names one of these modules, or an importable module of
one's own (`mypkg.my_experiment`) with the same `run`. See
docs/ADDING_AN_EXPERIMENT.md.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from xling.errors import XlingError


def available() -> list[str]:
    """Names of the experiments shipped with xling."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def find(name: str) -> ModuleType:
    """The module of an experiment name (or dotted path); a one-line error otherwise."""
    if not isinstance(name, str) or not name:
        raise XlingError(f"config.experiment must name an experiment ({', '.join(available())})")
    target = f"{__name__}.{name}" if name in available() else name
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as e:
        if e.name and target.startswith(e.name):
            raise XlingError(f"unknown experiment {name!r} (known: {', '.join(available())})") from None
        raise
    if not callable(getattr(module, "run", None)):
        raise XlingError(f"experiment module {target} has no run(config, workdir) function")
    return module

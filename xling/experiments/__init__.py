"""Experiments, discovered by name: `xling/experiments/NAME.py` with a `run(config, workdir)`.

A config's `experiment` field names one of these modules, or an importable module of
one's own (`mypkg.my_experiment`) with the same `run`. See
docs/ADDING_AN_EXPERIMENT.md.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import ml_collections

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


def split_config_arg(config_file: str) -> tuple[Path, str]:
    path, _, arg = config_file.partition(":")
    return Path(path), arg


def load_config_module(path: Path):
    """The module of a config file (not cached in sys.modules: two files may share a name)."""
    if not path.is_file():
        raise XlingError(f"config file {path} does not exist")
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    spec = importlib.util.spec_from_file_location(f"_xling_config_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # as config_flags does: sibling imports work
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def load_config(config_file: str) -> ml_collections.ConfigDict:
    """`get_config(variant)` of `path/to/config.py[:variant]`, as `--config=` loads it."""
    path, arg = split_config_arg(config_file)
    module = load_config_module(path)
    if not callable(getattr(module, "get_config", None)):
        raise XlingError(f"config file {path} has no get_config()")
    return module.get_config(arg) if arg else module.get_config()

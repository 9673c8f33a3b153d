"""Sweep definitions in config files, big_vision style, and their expansion into named points.

A config file declares a sweep with a `get_sweep(h, config)` function next to its
`get_config(arg)`. `h` is this module: `h.sweep(field, values)` is one axis, `h.fixed(field,
value)` a constant, `h.product([...])` every combination, `h.zip([...])` axes walked
together, `h.chain([...])` one set of points after another. A point is a dict of config
field paths (`model.name`, `prompt.style`) to values, plus two reserved keys:

- `config`: the experiment config file of the point (`experiments/xmrc.py:runlocal`);
  without it the point overrides the sweep file's own config;
- `resources`: what one run of the point claims (see `xling.sweep.engine.Resources`).

    def get_sweep(h, config):
        return h.product([
            h.sweep("model.name", ["gemma3-270m", "smollm2-135m-instruct"]),
            h.sweep("prompt.style", ["quoted", "clwtd"]),
        ])

Every field is checked against the point's config before anything runs: an unknown field,
or a value of the wrong type, is a one-line error naming the point.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import difflib
import hashlib
import itertools
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from xling.errors import XlingError
from xling.experiments import load_config, load_config_module, split_config_arg

RESERVED = ("config", "resources")


class SweepError(XlingError):
    """A sweep definition that cannot be expanded or does not fit its configs."""


def sweep(field: str, values: Sequence[Any]) -> list[dict]:
    """One axis: a point per value."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise SweepError(f"h.sweep({field!r}, ...) needs a list of values, got {values!r}")
    if not values:
        raise SweepError(f"h.sweep({field!r}, []) has no values")
    return [{field: v} for v in values]


def fixed(field: str, value: Any) -> list[dict]:
    """A constant field: one point."""
    return [{field: value}]


def _merge(parts: Sequence[Mapping]) -> dict:
    out: dict = {}
    for part in parts:
        for key, value in part.items():
            if key in out:
                raise SweepError(f"field {key!r} is set twice in one point (two axes name it)")
            out[key] = value
    return out


def product(axes: Sequence[Sequence[Mapping]]) -> list[dict]:
    """Every combination of the axes (the last varies fastest)."""
    return [_merge(combo) for combo in itertools.product(*axes)]


def zip(axes: Sequence[Sequence[Mapping]]) -> list[dict]:
    """The axes walked together; they must have the same length."""
    lengths = [len(a) for a in axes]
    if len(set(lengths)) > 1:
        raise SweepError(f"h.zip needs axes of one length, got lengths {lengths}")
    return [_merge(parts) for parts in builtins.zip(*axes, strict=True)]


def chain(groups: Sequence[Sequence[Mapping]]) -> list[dict]:
    """One set of points after another."""
    return [dict(p) for g in groups for p in g]


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of a sweep: a config file (with its variant) and the overrides applied to it."""

    name: str
    config_file: str  # path as given, with an optional ":variant"
    overrides: dict[str, Any]  # field path -> value, on top of the file's get_config(variant)
    resources: dict[str, Any]  # what the point declares; the engine fills in defaults

    def flags(self) -> list[str]:
        """The `--config.FIELD=VALUE` flags that reproduce the overrides on the CLI."""
        return [f"--config.{k}={flag_value(v)}" for k, v in self.overrides.items()]


def flag_value(value: Any) -> str:
    """A value as config_flags parses it back for a field of the value's type."""
    if isinstance(value, (list, tuple)):
        return repr(tuple(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def set_field(config: ml_collections.ConfigDict, field: str, value: Any) -> None:
    """Set `a.b.c` in place; an unknown field or a value of the wrong type is a SweepError."""
    parts = field.split(".")
    node = config
    for i, part in enumerate(parts):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            known = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
            close = difflib.get_close_matches(part, known, n=1)
            hint = f" (did you mean {'.'.join(parts[:i] + close)!r}?)" if close else ""
            raise SweepError(f"the config has no field {'.'.join(parts[: i + 1])!r}{hint}")
        if i < len(parts) - 1:
            node = node[part]
    try:  # ConfigDict checks the type against the field's current value
        setattr(node, parts[-1], tuple(value) if isinstance(value, list) else value)
    except (TypeError, ValueError) as e:
        raise SweepError(f"config.{field}: {str(e).splitlines()[0]}") from None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _slug(key: str, value: Any) -> str:
    text = str(value)
    if key == "config":  # experiments/xmrc.py:runlocal -> xmrc.runlocal
        path, _, arg = text.partition(":")
        text = Path(path).stem + (f".{arg}" if arg else "")
    elif isinstance(value, str) and "/" in text:  # a local model path: its file or folder name
        text = Path(text.rstrip("/")).name
    return re.sub(r"[^A-Za-z0-9._+=-]+", "-", text).strip("-.") or "x"


def point_name(values: Mapping[str, Any]) -> str:
    """A readable directory name from a point's values: `word_translation_model.name=gemma3-270m`."""
    parts = []
    for key, value in values.items():
        if key == "resources":
            continue
        parts.append(_slug(key, value) if key == "config" else f"{key.split('.')[-1]}={_slug(key, value)}")
    name = "_".join(parts) or "default"
    if len(name) > 120:  # file systems cap names at 255 bytes; keep it readable and unique
        name = f"{name[:100]}_{_digest(name)}"
    return name


def expand(sweep_file: str, cli_overrides: Mapping[str, Any] | None = None) -> list[Point]:
    """The points of a sweep file, each checked against its config; names are unique."""
    path, _ = split_config_arg(sweep_file)
    module = load_config_module(path)
    if not callable(getattr(module, "get_sweep", None)):
        raise SweepError(f"config file {path} has no get_sweep(h, config): it declares no sweep")
    _, arg = split_config_arg(sweep_file)
    base = module.get_config(arg) if arg else module.get_config()  # the module loaded above, not again
    for field, value in (cli_overrides or {}).items():
        set_field(base, field, value)
    raw = module.get_sweep(sys.modules[__name__], base)
    if not isinstance(raw, list) or not all(isinstance(p, Mapping) for p in raw) or not raw:
        raise SweepError(f"get_sweep in {path} must return a non-empty list of points (dicts)")
    points, seen, loaded = [], {}, {}
    for values in raw:
        name = point_name(values)
        if name in seen:
            raise SweepError(f"two points are both named {name!r}: {seen[name]} and {dict(values)}")
        seen[name] = dict(values)
        config_file = values.get("config", sweep_file)
        overrides = {k: v for k, v in values.items() if k not in RESERVED}
        if "config" not in values:  # the command line's overrides apply to the sweep file's points
            for field in cli_overrides or {}:
                if field in overrides:
                    raise SweepError(f"config.{field} is set both by the sweep and on the command line")
            overrides = {**dict(cli_overrides or {}), **overrides}
        resources = values.get("resources", {})
        if not isinstance(resources, Mapping):
            raise SweepError(f"point {name}: resources must be a dict, got {resources!r}")
        if config_file not in loaded:  # each config file is executed once, however many points use it
            loaded[config_file] = load_config(config_file)
        config = copy.deepcopy(loaded[config_file])
        for field, value in overrides.items():
            try:
                set_field(config, field, value)
            except SweepError as e:
                raise SweepError(f"point {name}: {e}") from None
        points.append(Point(name, config_file, overrides, dict(resources)))
    return points

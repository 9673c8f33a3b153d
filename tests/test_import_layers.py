"""Layers point one way: no import cycles between xling's packages, and the bottom layers
(models, partitioning, tokenizer) import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xling"
# What each low layer may import from xling, at module level or inside functions.
ALLOWED = {
    "xling.errors": set(),
    "xling.partitioning": {"xling.errors"},
    "xling.faults": set(),
    "xling.cache": {"xling.errors", "xling.faults"},
    "xling.tokenizer": {
        "xling.errors",
        "xling.cache",
        "xling.faults",
        "xling.checkpoints",
    },
    "xling.models": {"xling.errors", "xling.partitioning", "xling.models"},
    "xling.checkpoints": {"xling.errors", "xling.partitioning", "xling.models", "xling.checkpoints"},
}


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = tree.body if module_level_only else list(ast.walk(tree))
        for node in nodes:
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                target = PACKAGE.parent / Path(*name.split("."))
                is_module = target.is_dir() or target.with_suffix(".py").is_file()
                if name.startswith("xling.") and is_module and _unit(name) != unit:
                    graph.setdefault(unit, set()).add(_unit(name))
    return graph


def test_no_import_cycles_between_packages():
    graph = _graph(module_level_only=False)  # imports inside functions count too

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(u for u in graph if u in reach(u))
    assert not cycles, f"packages on an import cycle: {cycles}"


def test_bottom_layers_import_nothing_above_them():
    graph = _graph(module_level_only=False)
    for unit, allowed in ALLOWED.items():
        extra = graph.get(unit, set()) - allowed - {"xling"}
        assert not extra, f"{unit} imports {sorted(extra)}"

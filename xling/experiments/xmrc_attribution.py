"""xMRC mechanism (Gao et al., EMNLP 2025, part 2): AttnLRP relevance of each answer to every
layer and prompt token, major relevance depths per token group, phasing stability and
oracle answers, per model and setting.

The examples are an xMRC run's records: `config.records` names a finished xMRC workdir, or,
left empty, the xMRC experiment (`config.xmrc`, a full xMRC config) runs first into
`{workdir}/xmrc` (itself resumable). Each (model, setting, target) is a unit, written
atomically to `units/`; a re-run skips finished units.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import ml_collections

from xling.attribution import report
from xling.attribution.runner import TARGETS, AttributionSpec, run_unit
from xling.errors import DataError
from xling.models.rules import get_rules
from xling.runtime import load_runtime, make_partitioning, model_block
from xling.workdir import Workdir, input_digests, unit_key
from xling.xmrc.settings import parse_list

REPORT_FIELDS = ("progress", "mesh", "bootstrap", "xmrc")


def _records(config, workdir: Path) -> tuple[list[dict], Path]:
    if config.records:
        path = Path(config.records).expanduser() / "results.jsonl"
        if not path.is_file():
            raise DataError(f"config.records: no xMRC results at {path}")
    else:
        from xling.experiments import xmrc

        xmrc.run(config.xmrc, workdir / "xmrc")
        path = workdir / "xmrc" / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    need = {
        "model",
        "setting",
        "id",
        "prompt",
        "context",
        "question",
        "context_offset",
        "gold_spans",
        "template",
    }
    for i, r in enumerate(rows, 1):
        missing = need - set(r)
        if missing:
            raise DataError(f"{path}:{i}: not an xMRC record (missing {', '.join(sorted(missing))})")
    return rows, path


def _select(config, rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    models = parse_list(config.models, "config.models") or list(dict.fromkeys(r["model"] for r in rows))
    settings = parse_list(config.settings, "config.settings") or list(
        dict.fromkeys(r["setting"] for r in rows)
    )
    have = {(r["model"], r["setting"]) for r in rows}
    units = {}
    for m in models:
        for s in settings:
            if (m, s) not in have:
                raise DataError(f"the xMRC records have no {m} / {s} results")
            rs = [r for r in rows if r["model"] == m and r["setting"] == s]
            units[(m, s)] = rs[: config.num_examples] if config.num_examples else rs
    return units


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Run (or resume) the experiment; returns the summary dict."""
    from tqdm.auto import tqdm

    targets = parse_list(config.targets, "config.targets")
    if not targets or set(targets) - set(TARGETS):
        raise DataError(f"config.targets must name some of {', '.join(TARGETS)}, got {config.targets!r}")
    get_rules(config.rules)
    if config.remat not in ("none", "full", "dots"):
        raise DataError(f"config.remat must be none, full or dots, got {config.remat!r}")
    if isinstance(config.num_examples, bool) or config.num_examples < 0:
        raise DataError(f"config.num_examples must be an integer >= 0, got {config.num_examples!r}")
    specs = {
        t: AttributionSpec(
            t, config.rules, config.mrd_fraction, config.oracle_layer, config.batch_size, config.remat
        )
        for t in targets
    }
    workdir = Path(workdir)
    rows, path = _records(config, workdir)
    units = _select(config, rows)
    part = make_partitioning(config.get("mesh"))
    work = Workdir(workdir).start(
        {**config.to_dict(), "inputs": input_digests({"records": [path]})}, REPORT_FIELDS
    )
    names = {(m, s, t): unit_key(m, s, t) for (m, s) in units for t in targets}
    for model in dict.fromkeys(m for m, _ in units):
        todo = [(s, t) for (m, s, t) in names if m == model and not work.done(names[m, s, t])]
        if not todo:
            logging.info("%s: every unit finished earlier, kept", model)
            continue
        rt = load_runtime(model_block(config, model), partitioning=part)
        if not 0 <= config.oracle_layer <= rt.config.num_layers:
            raise DataError(
                f"config.oracle_layer must be in 0..{rt.config.num_layers}, got {config.oracle_layer}"
            )
        for setting, target in todo:
            rs = units[model, setting]
            with tqdm(total=len(rs), desc=f"{model} {setting} {target}", disable=not config.progress) as bar:
                out = run_unit(rt, rs, specs[target], bar.update)
            work.write_unit(names[model, setting, target], out)
        del rt
    records = [r for key in names.values() for r in work.read_unit(key)]
    work.write("results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    summary = report.summarize(records, n_resamples=config.bootstrap, seed=config.seed)
    work.write("summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    header = (
        f"Rules: {config.rules}; MRD at {config.mrd_fraction:.0%} of each token's cumulative |relevance|; "
        f"oracle spans from layer {config.oracle_layer}'s token relevance; xMRC records: {path}."
    )
    work.write("summary.md", report.summary_markdown(summary, header))
    report.plot_all(records, work.path)
    return summary

"""Evaluation hooks: run an xling experiment on the weights of a training run as it goes.

`experiment_hook(run, config, workdir, tokenizer, source)` returns a hook for
`train(hooks=[(N, hook)])`: at every N-th step it exports the current weights as a Hugging
Face directory (`{workdir}/step_{N}/model`, `xling.checkpoints.export`) and calls an
experiment's `run(config, workdir)` (e.g. `xling.experiments.find(name).run`; the trainer
does not import the experiments, which sit above it) with that directory as the model
(`models` or `model.name`), into `{workdir}/step_{N}/run`. Any experiment works unchanged,
its own resume included: a step whose run finished is skipped, so a resumed training run
does not evaluate twice. `experiments_hook` runs several experiments on one export.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import ml_collections

from xling.train.loop import Hook

log = logging.getLogger(__name__)


def experiment_hook(
    run: Callable[[ml_collections.ConfigDict, Path], object],
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    tokenizer,
    source: str | Path,
) -> Hook:
    """source: the checkpoint the trained model started from (its HF config is exported)."""
    return experiments_hook({"run": (run, config)}, workdir, tokenizer, source)


def experiments_hook(
    runs: Mapping[str, tuple[Callable[[ml_collections.ConfigDict, Path], object], ml_collections.ConfigDict]],
    workdir: str | Path,
    tokenizer,
    source: str | Path,
    *,
    keep_model: bool = True,
) -> Hook:
    """Several experiments on one export per step: `runs` maps a name to (run, config), each
    run into `{workdir}/step_{N}/{name}`. Without `keep_model` the export is deleted once
    every run of the step has finished (it is as large as the model in fp32)."""
    from xling.checkpoints.export import export_hf

    root = Path(workdir)

    def hook(step: int, model) -> None:
        here = root / f"step_{step}"
        todo = [name for name in runs if not (here / name / "summary.json").is_file()]
        if not todo:
            return
        out = here / "model"
        if not (out / "tokenizer_config.json").is_file():  # written last by export_hf
            if out.exists():  # an export cut short: do it again
                shutil.rmtree(out)
            export_hf(model, tokenizer, source, out)
        for name in todo:
            run, config = runs[name]
            c = ml_collections.ConfigDict(config.to_dict())
            if "models" in c:
                c.models = str(out)
            else:
                c.model.name = str(out)
            log.info("step %d: running %s on the current weights", step, config.get("experiment", name))
            run(c, here / name)
        if not keep_model:
            shutil.rmtree(out)

    return hook

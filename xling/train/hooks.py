"""Evaluation hooks: run an xling experiment on the weights of a training run as it goes.

`experiment_hook(run, config, workdir, tokenizer, source)` returns a hook for
`train(hooks=[(N, hook)])`: at every N-th step it exports the current weights as a Hugging
Face directory (`{workdir}/step_{N}/model`, `xling.checkpoints.export`) and calls an
experiment's `run(config, workdir)` (e.g. `xling.experiments.find(name).run`; the trainer
does not import the experiments, which sit above it) with that directory as the model
(`models` or `model.name`), into `{workdir}/step_{N}/run`. Any experiment works unchanged, its own resume included: a step
whose run finished is skipped, so a resumed training run does not evaluate twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
    from xling.checkpoints.export import export_hf

    root = Path(workdir)

    def hook(step: int, model) -> None:
        here = root / f"step_{step}"
        if (here / "run" / "summary.json").is_file():
            return
        out = here / "model"
        if not (out / "tokenizer_config.json").is_file():  # written last by export_hf
            if out.exists():  # an export cut short: do it again
                import shutil

                shutil.rmtree(out)
            export_hf(model, tokenizer, source, out)
        c = ml_collections.ConfigDict(config.to_dict())
        if "models" in c:
            c.models = str(out)
        else:
            c.model.name = str(out)
        log.info(
            "step %d: running %s on the current weights", step, config.get("experiment", "an experiment")
        )
        run(c, here / "run")

    return hook

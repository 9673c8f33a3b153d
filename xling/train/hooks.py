"""Evaluation hooks: run an xling experiment on the weights of a training run as it goes.

`experiment_hook(config, workdir, tokenizer, source)` returns a hook for `train(hooks=[(N,
hook)])`: at every N-th step it exports the current weights as a Hugging Face directory
(`{workdir}/step_{N}/model`, `xling.checkpoints.export`) and runs the experiment that
`config.experiment` names with that directory as its model (`models` or `model.name`), into
`{workdir}/step_{N}/run`. Any experiment works unchanged, its own resume included: a step
whose run finished is skipped, so a resumed training run does not evaluate twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

import ml_collections

from xling.train.loop import Hook

log = logging.getLogger(__name__)


def experiment_hook(
    config: ml_collections.ConfigDict, workdir: str | Path, tokenizer, source: str | Path
) -> Hook:
    """source: the checkpoint the trained model started from (its HF config is exported)."""
    from xling import experiments
    from xling.checkpoints.export import export_hf

    module = experiments.find(config.experiment)
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
        log.info("step %d: running %s on the current weights", step, config.experiment)
        module.run(c, here / "run")

    return hook

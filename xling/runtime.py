"""What every experiment config chooses about how a model runs: the `model` block (which
checkpoint, dtypes, attention and rematerialisation) and the `mesh` block (devices, rules,
hosts), and `load_runtime`, which honours both.

    c.model = runtime.model_config("gemma3-270m")
    c.mesh = sharding.default_config()
    rt = runtime.load_runtime(c.model, c.mesh)   # rt.model, rt.tokenizer, rt.partitioning

With more than one device in the mesh, the checkpoint is placed shard by shard (each
device receives only its part) and `rt.partitioning` is handed to the lens, generation
and scoring, whose jitted functions then constrain activations by the same rules.
"""

from __future__ import annotations

import dataclasses
import logging

import ml_collections

from xling.errors import DataError
from xling.models.config import CHOICES, DTYPES
from xling.partitioning import Partitioning
from xling.registry import LoadedModel

log = logging.getLogger(__name__)

_RUNTIME_FIELDS = ("attention_impl", "attention_dtype", "attention_chunk", "remat")


def model_config(name: str = "gemma3-270m") -> ml_collections.ConfigDict:
    """The `model` block of an experiment config."""
    c = ml_collections.ConfigDict()
    c.name = name  # registry name, a .gguf file or a Hugging Face checkpoint directory
    c.dtype = "float32"  # activations: float32, bfloat16 or float16
    c.param_dtype = "float32"  # weights as held in memory (bfloat16 halves them)
    c.attention_impl = "auto"  # auto (fused where the family allows), explicit, xla, cudnn
    c.attention_dtype = "float32"  # the q.k product and softmax
    c.attention_chunk = 1024  # queries per attention block for long inputs (0: one block)
    c.remat = "none"  # per-layer rematerialisation for backward passes: none, full, dots
    return c


def model_block(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
    """The experiment's `model` block (dtypes, attention, remat) for one of its `models`."""
    block = ml_collections.ConfigDict(config.model.to_dict())
    block.name = name
    return block


def check_model_config(c: ml_collections.ConfigDict) -> None:
    """One-line errors for a `model` block, before anything is loaded."""
    if not isinstance(c.get("name"), str) or not c.name:
        raise DataError("config.model.name must name a model (a registry name or a path)")
    for field in ("dtype", "param_dtype", "attention_dtype"):
        if c.get(field) not in DTYPES:
            raise DataError(
                f"config.model.{field} {c.get(field)!r} is not a dtype xling runs ({', '.join(DTYPES)})"
            )
    for field in ("attention_impl", "remat"):
        if c.get(field) not in CHOICES[field]:
            raise DataError(
                f"config.model.{field} {c.get(field)!r} is not one of {', '.join(CHOICES[field])}"
            )
    if not isinstance(c.get("attention_chunk"), int) or c.attention_chunk < 0:
        raise DataError(
            f"config.model.attention_chunk must be an integer >= 0, got {c.get('attention_chunk')!r}"
        )


@dataclasses.dataclass
class Runtime:
    """A loaded model and the partitioning its calls run under (None: one device)."""

    loaded: LoadedModel
    partitioning: Partitioning | None

    @property
    def model(self):
        return self.loaded.model

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    @property
    def config(self):
        return self.loaded.config


def make_partitioning(mesh_config: ml_collections.ConfigDict | None) -> Partitioning | None:
    """The partitioning of a `mesh` block (None when it spans one device). Starts
    `jax.distributed` first when the block asks for it (multi-host runs)."""
    if mesh_config is None:
        return None
    from xling import sharding

    mesh, rules = sharding.mesh_from_config(mesh_config)
    if mesh.size == 1:
        return None
    return Partitioning.of(mesh, rules)


def load_runtime(
    model_config: ml_collections.ConfigDict,
    mesh_config: ml_collections.ConfigDict | None = None,
    *,
    partitioning: Partitioning | None = None,
) -> Runtime:
    """Load the model as the config says, sharded over the mesh when it has several devices
    (`partitioning`: one already made from the mesh block, e.g. to validate it early)."""
    import xling
    from xling import sharding

    check_model_config(model_config)
    part = partitioning if partitioning is not None else make_partitioning(mesh_config)
    kwargs = {k: model_config[k] for k in ("dtype", "param_dtype", *_RUNTIME_FIELDS)}
    if part is not None:
        kwargs["place"] = sharding.placer(part.mesh, part.rules)
        log.info("loading %s sharded over mesh %s", model_config.name, dict(part.mesh.shape))
    else:
        log.info("loading %s", model_config.name)
    return Runtime(xling.load(model_config.name, **kwargs), part)

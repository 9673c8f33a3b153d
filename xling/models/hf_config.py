"""Reading a Hugging Face `config.json` strictly: every field is read, known to be
harmless, or rejected (penzai's rule: an unhandled field that could change the
numerics is an error, not a silent default)."""

from __future__ import annotations

from typing import Any

from xling.errors import UnsupportedError
from xling.models.config import RopeScaling

# Fields that do not change a forward pass in fp32 inference.
HARMLESS = frozenset({
    "architectures", "model_type", "transformers_version", "dtype", "torch_dtype", "use_cache",
    "initializer_range", "attention_dropout", "hidden_dropout", "embd_pdrop", "attn_pdrop",
    "resid_pdrop", "bos_token_id", "eos_token_id", "pad_token_id", "_name_or_path", "name_or_path",
    "_model_name_or_path", "unk_token_id", "sep_token_id", "cls_token_id", "mask_token_id",  # tokenizer metadata
    "max_position_embeddings", "output_attentions", "output_hidden_states", "return_dict",
    "id2label", "label2id", "problem_type", "task_specific_params", "tokenizer_class",
    "_attn_implementation_autoset", "chunk_size_feed_forward",
    "summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type",
    "summary_use_proj", "classifier_dropout", "n_ctx", "tie_encoder_decoder",
    "is_decoder", "is_encoder_decoder", "add_cross_attention", "prefix", "finetuning_task",
    "max_window_layers", "slow_but_exact", "pretraining_tp",
})  # fmt: skip

_MISSING = object()


class ConfigReader:
    """Tracks which fields a family translation consumed; `finish()` rejects the rest."""

    def __init__(self, raw: dict[str, Any], family: str):
        self.raw, self.family = dict(raw), family
        self.used: set[str] = set()

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key in self.raw and self.raw[key] is not None:
            return self.raw[key]
        if default is _MISSING:
            raise UnsupportedError(f"{self.family} config lacks required field {key!r}")
        return default

    def first(self, *keys: str, default: Any = _MISSING) -> Any:
        """The first present of several names for one field (e.g. n_embd / hidden_size)."""
        for key in keys:
            self.used.add(key)
        for key in keys:
            if self.raw.get(key) is not None:
                return self.raw[key]
        if default is _MISSING:
            raise UnsupportedError(f"{self.family} config lacks required field {keys[0]!r}")
        return default

    def require(self, key: str, *allowed: Any) -> None:
        """Accept the field only with a value this port implements (absent counts as the first)."""
        self.used.add(key)
        value = self.raw.get(key, allowed[0])
        if value not in allowed:
            raise UnsupportedError(
                f"{self.family} config field {key!r} = {value!r} is not supported (only {allowed!r})"
            )

    def finish(self) -> None:
        for key, value in self.raw.items():
            if key not in self.used and key not in HARMLESS:
                raise UnsupportedError(
                    f"{self.family} config field {key!r} = {value!r} is not handled by xling "
                    "and could change the numerics"
                )


def read_rope(reader: ConfigReader, params: dict | None = None) -> tuple[float, RopeScaling | None]:
    """RoPE base and scaling from either schema: `rope_theta` + `rope_scaling`, or `rope_parameters`."""
    if params is None:
        params = reader.get("rope_parameters", None)
    if params is None:
        theta = float(reader.get("rope_theta", 10_000.0))
        params = dict(reader.get("rope_scaling", None) or {})
    else:
        params = dict(params)
        theta = float(params.pop("rope_theta", reader.get("rope_theta", 10_000.0)))
        reader.used.update({"rope_theta", "rope_scaling"})
    kind = params.pop("rope_type", params.pop("type", "default"))
    if kind == "default":
        return theta, None
    if kind == "linear":
        return theta, RopeScaling("linear", float(params["factor"]))
    if kind == "llama3":
        return theta, RopeScaling(
            "llama3",
            float(params["factor"]),
            float(params["low_freq_factor"]),
            float(params["high_freq_factor"]),
            int(params["original_max_position_embeddings"]),
        )
    raise UnsupportedError(f"{reader.family}: RoPE type {kind!r} is not supported (default, linear, llama3)")

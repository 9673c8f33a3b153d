"""GGUF -> Decoder through the key map, and every way a GGUF file can be wrong."""

from __future__ import annotations

import gguf
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import write_gguf
from flax import nnx

import xling
from xling.checkpoints.gguf_file import GGUFFile
from xling.checkpoints.loader import export_tensors, load_decoder
from xling.errors import CheckpointError, UnknownModelError, UnsupportedError
from xling.models import gemma3
from xling.models.decoder import Decoder
from xling.registry import load_checkpoint

META = {
    "gemma3.context_length": 128,
    "gemma3.embedding_length": 32,
    "gemma3.block_count": 6,
    "gemma3.feed_forward_length": 48,
    "gemma3.attention.head_count": 4,
    "gemma3.attention.head_count_kv": 2,
    "gemma3.attention.key_length": 8,
    "gemma3.attention.value_length": 8,
    "gemma3.attention.layer_norm_rms_epsilon": 1e-6,
    "gemma3.attention.sliding_window": 4,
    "gemma3.rope.freq_base": 1_000_000.0,
}
VOCAB = 61


def random_gemma(seed=0) -> Decoder:
    cfg = gemma3.config_from_gguf(META, VOCAB)
    model = Decoder(cfg, rngs=nnx.Rngs(seed))
    for _, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        var.value = var.value + 0.05  # norm scales start at 0; make every tensor non-trivial
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = random_gemma()
    tensors = export_tensors(model, gemma3.gguf_keymap(None))
    llama_cpp_norms = {k: v for k, v in tensors.items() if "norm" in k}
    assert all(np.allclose(v, 1.05) for v in llama_cpp_norms.values())  # stored as 1 + w
    path = write_gguf(tmp_path_factory.mktemp("g") / "tiny.gguf", "gemma3", tensors, META)
    return model, tensors, path


def test_config_translation():
    cfg = gemma3.config_from_gguf(META, VOCAB)
    assert cfg.layer_types == ("local",) * 5 + ("global",)
    assert cfg.local_rope_theta == 10_000.0 and cfg.rope_theta == 1_000_000.0
    assert cfg.attn_scale == 8**-0.5 and cfg.embed_scale == pytest.approx(32**0.5)
    assert cfg.norm_offset == 1.0 and cfg.qk_norm and cfg.activation == "gelu_tanh"


def test_roundtrip_through_gguf(exported):
    model, tensors, path = exported
    loaded = load_checkpoint(path)
    ids = jnp.asarray([[3, 14, 15, 9, 26, 5, 35, 8, 9, 7]])
    np.testing.assert_array_equal(loaded(ids).logits, model(ids).logits)
    again = export_tensors(loaded, gemma3.gguf_keymap(None))
    assert again.keys() == tensors.keys()
    for name in tensors:
        np.testing.assert_array_equal(again[name], tensors[name])


def test_keymap_lookups_agree():
    km = gemma3.gguf_keymap(None)
    for name, targets, layer, _ in km.expand(3):
        assert km.target_of(name) == (targets, layer)
        assert all(km.source_name(t, layer) == name for t in targets)
    assert km.target_of("blk.0.unknown.weight") is None


def test_bf16_params(exported):
    _, _, path = exported
    loaded = load_checkpoint(path, param_dtype="bfloat16")
    assert loaded.embed[...].dtype == jnp.bfloat16


def _rewrite(tmp_path, tensors, meta=META, arch="gemma3"):
    return write_gguf(tmp_path / "bad.gguf", arch, tensors, meta)


def test_missing_tensor(tmp_path, exported):
    tensors = dict(exported[1])
    del tensors["blk.2.ffn_up.weight"]
    with pytest.raises(CheckpointError, match=r"missing tensor 'blk.2.ffn_up.weight'"):
        load_checkpoint(_rewrite(tmp_path, tensors))


def test_extra_tensor(tmp_path, exported):
    tensors = dict(exported[1], **{"blk.0.attn_bias.weight": np.zeros(4, np.float32)})
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'blk.0.attn_bias.weight'"):
        load_checkpoint(_rewrite(tmp_path, tensors))


def test_wrong_shape_names_tensor_and_both_shapes(tmp_path, exported):
    tensors = dict(exported[1], **{"blk.1.attn_k.weight": np.zeros((8, 32), np.float32)})
    with pytest.raises(
        CheckpointError, match=r"'blk.1.attn_k.weight' has shape \(8, 32\), expected \(16, 32\)"
    ):
        load_checkpoint(_rewrite(tmp_path, tensors))


def test_unhandled_metadata_key(tmp_path, exported):
    meta = dict(META, **{"gemma3.attn_logit_softcapping": 50.0})
    with pytest.raises(UnsupportedError, match=r"'gemma3\.attn_logit_softcapping' is not handled"):
        load_checkpoint(_rewrite(tmp_path, exported[1], meta))


def test_unsupported_architecture(tmp_path):
    path = write_gguf(tmp_path / "m.gguf", "mamba", {"x": np.zeros(4, np.float32)})
    with pytest.raises(
        UnsupportedError, match=r"GGUF architecture 'mamba' is not supported \(gemma3, llama, qwen2\)"
    ):
        xling.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"GGUF file not found: .*nope\.gguf"):
        xling.load(tmp_path / "nope.gguf")


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(CheckpointError, match="is not a GGUF file"):
        xling.load(path)


def test_truncated_file(tmp_path, exported):
    data = exported[2].read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:200])
    with pytest.raises(CheckpointError, match="truncated or corrupt GGUF header"):
        GGUFFile(path)
    path.write_bytes(data[: len(data) - 64])
    ckpt = GGUFFile(path)
    last = ckpt.names()[-1]
    with pytest.raises(CheckpointError, match="runs past the end of the file"):
        ckpt.read(last)


def test_unknown_model_name_lists_known():
    with pytest.raises(
        UnknownModelError,
        match=r"unknown model 'gemma-9000'.*known name \(gemma3-270m, smollm2-135m-instruct\)",
    ):
        xling.load("gemma-9000")


def test_header_matches_reference_reader(exported):
    """Our header parser agrees with gguf.GGUFReader on metadata, shapes and types."""
    path = exported[2]
    ours, ref = GGUFFile(path), gguf.GGUFReader(path)
    for key, field in ref.fields.items():
        if not key.startswith("GGUF."):
            np.testing.assert_equal(ours.metadata[key], field.contents())
    for t in ref.tensors:
        assert ours.shape(t.name) == tuple(reversed([int(d) for d in t.shape]))
        assert ours.qtype(t.name) == t.tensor_type
        np.testing.assert_array_equal(ours.read(t.name), np.asarray(t.data).reshape(ours.shape(t.name)))


def test_loader_rejects_unmapped_param(exported):
    model, _, path = exported
    cfg = model.cfg.replace(tie_embeddings=False)  # lm_head exists but no rule fills it
    with pytest.raises(CheckpointError, match="no key-map rule fills parameter 'lm_head'"):
        load_decoder(cfg, GGUFFile(path), gemma3.gguf_keymap(None))

"""Loading HF directories: dtypes, tokenizer files, and every way a directory can be wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
import torch
import transformers as tf
from safetensors.torch import save_file

import xling
from xling.checkpoints.hf_dir import load_hf_dir, read_config
from xling.checkpoints.safetensors_file import SafetensorsCheckpoint
from xling.errors import CheckpointError, UnsupportedError

CFG = tf.LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2)  # fmt: skip


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("llama")
    tf.AutoModelForCausalLM.from_config(CFG).save_pretrained(path)
    return path


def _copy(src, dst, edit_config=None, edit_tensors=None):
    shutil.copytree(src, dst)
    if edit_config:
        cfg = json.loads((dst / "config.json").read_text())
        edit_config(cfg)
        (dst / "config.json").write_text(json.dumps(cfg))
    if edit_tensors:
        from safetensors.torch import load_file

        tensors = load_file(dst / "model.safetensors")
        edit_tensors(tensors)
        save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def test_bf16_checkpoint_reads_without_torch_and_keeps_bits(tmp_path):
    t = torch.randn(3, 5).to(torch.bfloat16)
    save_file({"w": t}, tmp_path / "model.safetensors")
    got = SafetensorsCheckpoint(tmp_path).read("w")
    assert got.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(got.astype(np.float32), t.float().numpy())


def test_bf16_weights_load_as_bf16_params(llama_dir, tmp_path):
    path = _copy(
        llama_dir, tmp_path / "m", edit_tensors=lambda ts: ts.update({k: v.bfloat16() for k, v in ts.items()})
    )
    model = load_hf_dir(path, param_dtype="bfloat16")
    assert model.embed[...].dtype == ml_dtypes.bfloat16
    with pytest.raises(UnsupportedError, match="bfloat16 weights cannot be held as float16"):
        load_hf_dir(path, param_dtype="float16")


def test_unknown_dtype_is_rejected(tmp_path):
    save_file({"w": torch.zeros(2, dtype=torch.int8)}, tmp_path / "model.safetensors")
    with pytest.raises(UnsupportedError, match=r"'w' has dtype I8, which xling cannot load"):
        SafetensorsCheckpoint(tmp_path).read("w")


def _with_tokenizer(src, dst):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"<unk>": 0, "hello": 1, "world": 2}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = _copy(src, dst)
    tok.save(str(path / "tokenizer.json"))
    config = {"chat_template": "{{ messages }}", "unk_token": "<unk>"}
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    return path


def test_verify_command(llama_dir, tmp_path):
    path = _with_tokenizer(llama_dir, tmp_path / "m")
    cmd = [sys.executable, "-m", "xling.verify", f"--model={path}", "--prompt=hello world hello", "--k=3"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| 2 |" in out.stdout and "| logits |" in out.stdout
    assert "top-3 overlap 1.0000" in out.stdout


def test_xling_load_reads_dir_with_tokenizer(llama_dir, tmp_path):
    path = _with_tokenizer(llama_dir, tmp_path / "m")
    loaded = xling.load(path)
    assert loaded.config.family == "llama" and loaded.tokenizer.encode("hello world") == [1, 2]
    assert loaded.tokenizer.chat_template == "{{ messages }}"


def test_missing_tensor(llama_dir, tmp_path):
    path = _copy(
        llama_dir, tmp_path / "m", edit_tensors=lambda ts: ts.pop("model.layers.1.mlp.up_proj.weight")
    )
    with pytest.raises(CheckpointError, match=r"missing tensor 'model.layers.1.mlp.up_proj.weight'"):
        load_hf_dir(path)


def test_extra_tensor(llama_dir, tmp_path):
    path = _copy(
        llama_dir, tmp_path / "m", edit_tensors=lambda ts: ts.update({"model.extra.weight": torch.zeros(2)})
    )
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'model.extra.weight'"):
        load_hf_dir(path)


def test_wrong_shape(llama_dir, tmp_path):
    bad = {"model.layers.0.self_attn.k_proj.weight": torch.zeros(16, 16)}
    path = _copy(llama_dir, tmp_path / "m", edit_tensors=lambda ts: ts.update(bad))
    with pytest.raises(
        CheckpointError,
        match=r"'model.layers.0.self_attn.k_proj.weight' has shape \(16, 16\), expected \(8, 16\)",
    ):
        load_hf_dir(path)


def test_unsupported_model_type(llama_dir, tmp_path):
    path = _copy(llama_dir, tmp_path / "m", edit_config=lambda c: c.update(model_type="mamba"))
    with pytest.raises(UnsupportedError, match=r"model_type 'mamba' is not supported \(bloom, gemma"):
        read_config(path)


def test_unhandled_numerics_field(llama_dir, tmp_path):
    path = _copy(llama_dir, tmp_path / "m", edit_config=lambda c: c.update(logit_scale=0.5))
    with pytest.raises(UnsupportedError, match=r"field 'logit_scale' = 0.5 is not handled by xling"):
        read_config(path)


def test_unsupported_value_of_known_field(llama_dir, tmp_path):
    path = _copy(llama_dir, tmp_path / "m", edit_config=lambda c: c.update(hidden_act="relu"))
    with pytest.raises(UnsupportedError, match=r"'hidden_act' = 'relu' is not supported"):
        read_config(path)
    path = _copy(
        llama_dir,
        tmp_path / "y",
        edit_config=lambda c: c.update(rope_parameters={"rope_type": "yarn", "factor": 4.0}),
    )
    with pytest.raises(UnsupportedError, match="RoPE type 'yarn' is not supported"):
        read_config(path)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json in"):
        load_hf_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors or model\.safetensors\.index\.json"):
        SafetensorsCheckpoint(tmp_path)


def test_missing_shard(llama_dir, tmp_path):
    path = tmp_path / "sharded"
    tf.AutoModelForCausalLM.from_config(CFG).save_pretrained(path, max_shard_size="10KB")
    shard = sorted(path.glob("model-*.safetensors"))[-1]
    shard.unlink()
    with pytest.raises(FileNotFoundError, match=f"shard {shard.name} listed in the index is missing"):
        load_hf_dir(path)

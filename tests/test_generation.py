"""Generation: the cached on-device loop against a plain argmax loop without a cache; EOS ids,
stop strings, sampling, padding and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_model
from flax import nnx

from xling.errors import DataError
from xling.inference.generation import PAD, Sampling, generate, greedy_generate


def naive_greedy(model, row: list[int], steps: int) -> list[int]:
    """Full forward per step; left-padded to one width so it compiles once."""
    forward = nnx.jit(lambda m, ids, mask: m(ids, mask).logits[0, -1])
    width, out = len(row) + steps, []
    for _ in range(steps):
        seq = row + out
        ids = jnp.asarray([[0] * (width - len(seq)) + seq])
        mask = jnp.arange(width)[None] >= width - len(seq)
        out.append(int(jnp.argmax(forward(model, ids, mask))))
    return out


def test_cached_greedy_equals_recomputing_everything():
    model = tiny_model(seed=3)
    prompts = [[5, 17, 33, 2, 8, 40], [9, 11, 4]]
    width = max(map(len, prompts))
    ids = np.zeros((2, width), np.int32)
    mask = np.zeros((2, width), bool)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :], mask[i, width - len(p) :] = p, True
    got = greedy_generate(model, ids, mask, max_new_tokens=7)
    assert got.shape == (2, 7)
    for i, p in enumerate(prompts):
        assert got[i].tolist() == naive_greedy(model, p, 7)


def test_tokens_after_eos_are_padding():
    model = tiny_model(seed=3)
    prompt = np.asarray([[5, 17, 33, 2, 8, 40]], np.int32)
    free = greedy_generate(model, prompt, np.ones_like(prompt, bool), max_new_tokens=6)[0]
    eos = int(free[2])
    stopped = greedy_generate(model, prompt, np.ones_like(prompt, bool), max_new_tokens=6, eos_ids=eos)[0]
    first = free.tolist().index(eos)
    assert stopped[: first + 1].tolist() == free[: first + 1].tolist()
    # Padding is PAD (-1), never a real id (pad_id 0 is a real token in many vocabularies).
    assert (stopped[first + 1 :] == PAD).all()


def test_any_of_several_eos_ids_ends_a_row():
    model = tiny_model(seed=3)
    prompt = np.asarray([[5, 17, 33, 2, 8, 40], [9, 11, 4, 4, 4, 4]], np.int32)
    mask = np.ones_like(prompt, bool)
    free = greedy_generate(model, prompt, mask, max_new_tokens=6)
    eos = (int(free[0, 3]), int(free[1, 1]))  # a different id ends each row
    stopped = greedy_generate(model, prompt, mask, max_new_tokens=6, eos_ids=eos)
    for row in range(2):
        first = min(free[row].tolist().index(e) for e in eos if e in free[row].tolist())
        assert stopped[row, : first + 1].tolist() == free[row, : first + 1].tolist()
        assert (stopped[row, first + 1 :] == PAD).all()


class CharTokenizer:
    """Ids are characters (a..z, space, newline) shifted by one; enough to test text handling."""

    alphabet = "abcdefghijklmnopqrstuvwxyz \n.!"
    pad_id = 0
    vocab_size = 97

    def __init__(self):
        import tokenizers

        vocab = {c: i + 1 for i, c in enumerate(self.alphabet)}
        vocab.update({f"<x{i}>": i for i in [0, *range(len(vocab) + 1, 97)]})
        model = tokenizers.models.WordLevel(vocab, unk_token="<x0>")
        self.tok = tokenizers.Tokenizer(model)
        self.tok.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")
        self.tok.decoder = tokenizers.decoders.Fuse()

    def encode(self, text, add_special_tokens=True):
        return self.tok.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids, skip_special_tokens=True):
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)


def test_stop_strings_end_rows_and_cut_text():
    model, tok = tiny_model(seed=4), CharTokenizer()
    prompts = ["hello world", "abc"]
    free = generate(model, tok, prompts, max_new_tokens=12, eos_ids=())
    assert free.finish == ["length", "length"]
    assert free.texts[0] == tok.decode(free.tokens[0])
    # Stop at the second character the first row emitted: its text is cut before it.
    stop = tok.decode(free.tokens[0, 1:2])
    got = generate(model, tok, prompts, max_new_tokens=12, stop=[stop], eos_ids=())
    assert got.finish[0] == "stop"
    assert got.texts[0] == free.texts[0][: free.texts[0].index(stop)]
    assert got.lengths[0] == 2 and (got.tokens[0, 2:] == PAD).all()
    np.testing.assert_allclose(got.logprobs[0, :2], free.logprobs[0, :2], rtol=1e-6)
    # A stop string spanning two tokens is found on the host.
    two = tok.decode(free.tokens[0, 2:4])
    cut = generate(model, tok, prompts, max_new_tokens=12, stop=[two], eos_ids=())
    assert cut.texts[0] == free.texts[0][: free.texts[0].index(two)]


def test_logprobs_are_the_models():
    model, tok = tiny_model(seed=4), CharTokenizer()
    got = generate(model, tok, ["hello"], max_new_tokens=4, eos_ids=())
    seq = tok.encode("hello") + got.tokens[0].tolist()
    logits = model(jnp.asarray([seq])).logits[0]
    want = np.asarray(jax.nn.log_softmax(logits, -1))[np.arange(4, 8), seq[5:]]
    np.testing.assert_allclose(got.logprobs[0], want, rtol=1e-5, atol=1e-6)


def test_sampling_is_reproducible_from_its_seed():
    model, tok = tiny_model(seed=4), CharTokenizer()
    prompts = ["hello", "abc", "zz"]
    hot = Sampling(temperature=1.5, top_p=0.9, top_k=20, seed=7)
    a = generate(model, tok, prompts, max_new_tokens=10, sampling=hot, eos_ids=())
    b = generate(model, tok, prompts, max_new_tokens=10, sampling=hot, eos_ids=())
    assert (a.tokens == b.tokens).all() and a.texts == b.texts
    other = generate(
        model, tok, prompts, max_new_tokens=10, sampling=Sampling(1.5, 0.9, 20, seed=8), eos_ids=()
    )
    assert (a.tokens != other.tokens).any()
    greedy = generate(model, tok, prompts, max_new_tokens=10, eos_ids=())
    assert (a.tokens != greedy.tokens).any()


def test_top_k_one_is_greedy():
    model, tok = tiny_model(seed=4), CharTokenizer()
    greedy = generate(model, tok, ["hello", "ab"], max_new_tokens=6, eos_ids=())
    sampled = generate(
        model, tok, ["hello", "ab"], max_new_tokens=6, sampling=Sampling(1.0, top_k=1), eos_ids=()
    )
    assert (greedy.tokens == sampled.tokens).all()


def test_chunked_prefill_equals_one_chunk():
    model, tok = tiny_model(seed=4), CharTokenizer()
    prompts = ["the quick brown fox jumps over", "a lazy dog"]
    one = generate(model, tok, prompts, max_new_tokens=5, eos_ids=(), prefill_chunk=256)
    chunked = generate(model, tok, prompts, max_new_tokens=5, eos_ids=(), prefill_chunk=8)
    assert (one.tokens == chunked.tokens).all()
    np.testing.assert_allclose(one.logprobs, chunked.logprobs, rtol=1e-5, atol=1e-6)


def test_bad_input():
    model, tok = tiny_model(), CharTokenizer()
    with pytest.raises(DataError, match="max_new_tokens must be >= 1"):
        greedy_generate(model, np.ones((1, 3), np.int32), np.ones((1, 3), bool), 0)
    with pytest.raises(DataError, match="a stop string is empty"):
        generate(model, tok, ["abc"], max_new_tokens=3, stop=[""])
    with pytest.raises(DataError, match="exceeds the model's context of 8192 tokens"):
        generate(model, tok, ["a" * 8190], max_new_tokens=3)
    with pytest.raises(DataError, match="temperature must be >= 0"):
        Sampling(temperature=-1)
    with pytest.raises(DataError, match="no prompts given"):
        generate(model, tok, [], max_new_tokens=3)


def test_shared_prefixes_equal_separate_prompts():
    """groups=: each group's longest common token prefix is prefilled once and copied into its
    rows' caches. Tokens and log-probs equal the ungrouped run: groups of 1, 2 and 3 rows, one
    prompt that is its group's whole prefix, sliding windows (3) spanning the boundary, and a
    prefix prefilled in several chunks."""
    from xling.inference.generation import split_shared_prefixes

    model, tok = tiny_model(seed=4), CharTokenizer()
    prompts = [
        "the quick brown fox. who",
        "the quick brown fox. what",
        "the quick brown fox",
        "a lazy dog sleeps. where",
        "a lazy dog sleeps. when",
        "zebra",
    ]
    groups = ["fox", "fox", "fox", "dog", "dog", "z"]
    plain = generate(model, tok, prompts, max_new_tokens=6, eos_ids=())
    for chunk in (256, 8):
        shared = generate(
            model, tok, prompts, max_new_tokens=6, eos_ids=(), groups=groups, prefill_chunk=chunk
        )
        assert (shared.tokens == plain.tokens).all() and shared.texts == plain.texts
        np.testing.assert_allclose(shared.logprobs, plain.logprobs, rtol=1e-5, atol=1e-6)
    rows = [tok.encode(p) for p in prompts]
    prefixes, which, suffixes = split_shared_prefixes(rows, groups)
    assert [len(p) for p in prefixes] == [len("the quick brown fox") - 1, len("a lazy dog sleeps. whe"), 4]
    assert all(len(s) >= 1 for s in suffixes)
    assert [prefixes[w] + s for w, s in zip(which, suffixes, strict=True)] == rows
    hot = Sampling(temperature=1.3, top_p=0.9, seed=3)
    a = generate(model, tok, prompts, max_new_tokens=6, sampling=hot, eos_ids=())
    b = generate(model, tok, prompts, max_new_tokens=6, sampling=hot, eos_ids=(), groups=groups)
    assert (a.tokens == b.tokens).all()
    with pytest.raises(DataError, match="2 group keys given for 6 prompts"):
        generate(model, tok, prompts, max_new_tokens=2, groups=["a", "b"])


def test_generate_many_in_stages_equals_one_pass():
    """Rows regrouped after 2 and 5 tokens (prompt + tokens so far re-prefilled, in fresh
    batches of 2) give the texts and tokens of one pass, in input order; groups too."""
    from xling.inference.batching import generate_many

    model, tok = tiny_model(seed=4), CharTokenizer()
    prompts = ["the quick brown fox", "a lazy dog", "abc", "hello world", "zzz top", "the quick brown cat"]
    free = generate(model, tok, prompts, max_new_tokens=9, eos_ids=())
    stop = tok.decode(free.tokens[1, 3:4])  # ends some rows early, in different stages
    one = generate(model, tok, prompts, max_new_tokens=9, stop=[stop], eos_ids=())
    seen = []
    for groups in (None, ["fox", "dog", "a", "h", "z", "fox"]):
        many = generate_many(
            model, tok, prompts, max_new_tokens=9, batch_size=2, stages=(2, 5), stop=[stop], eos_ids=(),
            groups=groups, progress=seen.append,
        )  # fmt: skip
        assert many.texts == one.texts and many.finish == one.finish
        assert (many.lengths == one.lengths).all() and (many.tokens == one.tokens).all()
        np.testing.assert_allclose(many.logprobs, one.logprobs, rtol=1e-5, atol=1e-6)
    assert sum(seen) == 2 * len(prompts)
    with pytest.raises(DataError, match="stages need greedy decoding"):
        generate_many(model, tok, prompts, max_new_tokens=4, stages=(2,), sampling=Sampling(1.0))

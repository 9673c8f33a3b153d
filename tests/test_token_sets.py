"""Token sets: Gemma's SentencePiece vocabulary, a trained byte-level BPE, a word-level one."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from xling.lens.token_sets import TokenSet, overlaps, tokenizer_kind, word_token_set
from xling.tokenizer import Tokenizer


def first_token(tokenizer: Tokenizer, text: str) -> int:
    return tokenizer.encode(text, add_special_tokens=False)[0]


def byte_token(ch: str) -> str:
    return f"<0x{ch.encode('utf-8')[0]:02X}>"


# --- Gemma 3 (SentencePiece-style BPE with byte fallback) ---


@pytest.mark.slow
def test_gemma_kind(gemma):
    assert tokenizer_kind(gemma.tokenizer) == "sentencepiece"


@pytest.mark.slow
def test_gemma_single_token_word(gemma):
    tok = gemma.tokenizer
    ts = word_token_set(tok, "  dog ")
    assert ts.word == "dog"
    assert tok.encode(" dog", add_special_tokens=False) == [tok.token_to_id("▁dog")]
    expected = {
        t for t in ("▁dog", "dog", "▁do", "do", "▁d", "d", "<0x64>") if tok.token_to_id(t) is not None
    }
    assert {"▁dog", "▁d", "d"} <= expected <= set(ts.tokens)
    assert list(ts.ids) == sorted(set(ts.ids))
    # Every id is the token string it was chosen for, and nothing else slipped in.
    assert [tok.id_to_token(i) for i in ts.ids] == list(ts.tokens)
    assert set(ts.tokens) == expected
    assert tok.decode([tok.token_to_id("▁dog")]).strip() == "dog"


@pytest.mark.slow
def test_gemma_case_is_kept(gemma):
    tokens = set(word_token_set(gemma.tokenizer, "Dog").tokens)
    assert "▁Dog" in tokens and "▁dog" not in tokens


@pytest.mark.slow
def test_gemma_multi_token_word(gemma):
    tok = gemma.tokenizer
    word = "собака"
    assert len(tok.encode(" " + word, add_special_tokens=False)) > 1
    ts = word_token_set(tok, word)
    # The set holds the token the model would actually emit first, with or without a space.
    assert first_token(tok, " " + word) in ts.ids
    assert first_token(tok, word) in ts.ids
    assert "▁" + word not in ts.tokens
    assert {"▁с", "с"} <= set(ts.tokens)


@pytest.mark.slow
@pytest.mark.parametrize("word", ["狗", "猫"])
def test_gemma_cjk_word_has_first_byte_token(gemma, word):
    tok = gemma.tokenizer
    ts = word_token_set(tok, word)
    assert byte_token(word) in ts.tokens
    assert byte_token(word) == "<0xE7>"  # both characters start with UTF-8 byte 0xE7
    if tok.token_to_id(word) is not None:
        assert word in ts.tokens
    # CJK runs have no spaces; " 狗" encodes as the bare marker "▁" then 狗, and the bare
    # marker would match every word, so it must stay out.
    assert first_token(tok, word) in ts.ids
    assert "▁" not in ts.tokens


@pytest.mark.slow
@pytest.mark.parametrize("word", ["кошка", "कुत्ता", "बिल्ली", "Hund", "perro"])
def test_gemma_other_scripts(gemma, word):
    tok = gemma.tokenizer
    ts = word_token_set(tok, word)
    assert ts.ids and byte_token(word) in ts.tokens
    assert first_token(tok, " " + word) in ts.ids
    assert all(t.lstrip("▁") and word.startswith(t.lstrip("▁")) for t in ts.tokens if not t.startswith("<0x"))


@pytest.mark.slow
@pytest.mark.parametrize("word", ["", "   ", "\t\n"])
def test_gemma_empty_word_raises(gemma, word):
    with pytest.raises(ValueError, match="empty or whitespace-only"):
        word_token_set(gemma.tokenizer, word)


# --- a byte-level BPE trained here ---

SENTENCES = [
    "the dog runs",
    "a dog and a cat",
    "my dog sleeps",
    "the cat sleeps",
    "dog dog dog",
    "le chien dort",
    "le chat dort",
    "der Hund schläft",
    "die Katze schläft",
    "el perro duerme",
    "собака спит",
    "кошка спит",
    "моя собака спит",
    "моя кошка спит",
    "I saw a 猫 and a 狗",
    "狗在睡觉",
    "猫在睡觉",
    "我的狗",
    "我的猫",
] * 4


@pytest.fixture(scope="module")
def byte_level() -> Tokenizer:
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(SENTENCES, trainer=trainer)
    return Tokenizer(tok, bos_id=None, eos_id=None, pad_id=0)


def test_byte_level_kind(byte_level):
    assert tokenizer_kind(byte_level) == "byte_level"


def mapped(text: str) -> str:
    """tokenizers' own byte-level mapping of text, independent of the module's copy of it."""
    return "".join(
        piece for piece, _ in pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)
    )


def test_byte_level_single_token_word(byte_level):
    assert byte_level.encode(" dog") == [byte_level.token_to_id("Ġdog")]
    ts = word_token_set(byte_level, "dog")
    candidates = [p for w in ("d", "do", "dog") for p in (w, "Ġ" + w)]
    assert set(ts.tokens) == {t for t in candidates if byte_level.token_to_id(t) is not None}
    assert {"Ġdog", "dog", "d"} <= set(ts.tokens)
    assert [byte_level.id_to_token(i) for i in ts.ids] == list(ts.tokens)
    assert byte_level.decode([byte_level.token_to_id("Ġdog")]) == " dog"


def test_byte_level_multi_token_word(byte_level):
    word = "dogmatic"
    assert len(byte_level.encode(" " + word)) > 1
    ts = word_token_set(byte_level, word)
    assert first_token(byte_level, " " + word) in ts.ids
    assert first_token(byte_level, word) in ts.ids
    assert "Ġdog" in ts.tokens and "Ġ" + word not in ts.tokens


def test_byte_level_cjk_word(byte_level):
    ts = word_token_set(byte_level, "猫")
    # One char per byte, so the mapped first byte is the first char; GPT-2 keeps 0xE7 as "ç".
    assert "猫".encode()[0] == 0xE7 and mapped("猫")[0] == "ç"
    assert "ç" in ts.tokens
    # Non-ASCII prefixes are stored byte-mapped; training made 猫 (3 bytes) one token, with and without "Ġ".
    assert {mapped("猫"), mapped(" 猫")} <= set(ts.tokens)
    assert mapped(" 猫").startswith("Ġ") and "猫" not in ts.tokens
    assert first_token(byte_level, " 猫") in ts.ids
    assert first_token(byte_level, "猫") in ts.ids


def test_byte_level_unseen_cjk_word_falls_back_to_first_byte(byte_level):
    word = "鱼"  # not in the training text: only its bytes are in the vocabulary
    assert byte_level.token_to_id(mapped(word)) is None
    ts = word_token_set(byte_level, word)
    assert ts.tokens == (mapped(word)[0],) == ("é",)  # first byte 0xE9
    assert ts.ids == (first_token(byte_level, word),)


def test_byte_level_cyrillic_word(byte_level):
    ts = word_token_set(byte_level, "собака")
    assert {mapped("с"), mapped("собака"), mapped(" собака")} <= set(ts.tokens)
    assert first_token(byte_level, " собака") in ts.ids
    assert "Ġ" not in ts.tokens


# --- a word-level tokenizer that cannot represent most words ---


@pytest.fixture(scope="module")
def word_level() -> Tokenizer:
    tok = HFTokenizer(models.WordLevel({"<unk>": 0, "hello": 1}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return Tokenizer(tok, bos_id=None, eos_id=None, pad_id=0)


def test_word_level_kind_and_known_word(word_level):
    assert tokenizer_kind(word_level) == "other"
    assert word_token_set(word_level, "hello") == TokenSet("hello", (1,), ("hello",))


def test_unrepresentable_word_raises(word_level):
    with pytest.raises(ValueError, match="no token starting word '狗'"):
        word_token_set(word_level, "狗")
    with pytest.raises(ValueError, match="empty"):
        word_token_set(word_level, " ")


# --- overlaps ---


def test_overlaps():
    sets = {
        "source": TokenSet("dog", (1, 2, 3), ("▁d", "▁do", "▁dog")),
        "pivot": TokenSet("chien", (4, 5), ("▁c", "▁ch")),
        "target": TokenSet("doggo", (1, 2, 6), ("▁d", "▁do", "▁doggo")),
        "other": TokenSet("ch", (5,), ("▁ch",)),
    }
    assert overlaps(sets) == {
        ("source", "target"): ("▁d", "▁do"),
        ("pivot", "other"): ("▁ch",),
    }
    assert overlaps({"a": sets["source"], "b": sets["pivot"]}) == {}
    assert overlaps({}) == {}


def test_kind_from_nested_sequences():
    def wrap(pre) -> Tokenizer:
        tok = HFTokenizer(models.WordLevel({"<unk>": 0, "▁hello": 1}, unk_token="<unk>"))
        tok.pre_tokenizer = pre
        return Tokenizer(tok, bos_id=None, eos_id=None, pad_id=0)

    metaspace = wrap(pre_tokenizers.Sequence([pre_tokenizers.Metaspace()]))
    assert tokenizer_kind(metaspace) == "sentencepiece"
    assert word_token_set(metaspace, "hello").tokens == ("▁hello",)
    nested = pre_tokenizers.Sequence([pre_tokenizers.Digits(), pre_tokenizers.ByteLevel()])
    assert tokenizer_kind(wrap(nested)) == "byte_level"
    assert tokenizer_kind(wrap(pre_tokenizers.Whitespace())) == "other"

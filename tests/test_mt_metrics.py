"""chrF and BLEU from xling.metrics.mt against sacrebleu's own command line."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from sacrebleu.metrics import BLEU

from xling.errors import DataError
from xling.metrics import mt

# (hypotheses, references): five hand-made pairs per target language, some exact, some not.
CASES = {
    "en": (
        [
            "The cat sat on the mat.",
            "A dog is barking in the garden.",
            "We went to the market yesterday.",
            "She reads books every evening.",
            "The weather is nice today.",
        ],
        [
            "The cat sat on the mat.",
            "A dog barks in the garden.",
            "Yesterday we went to the market.",
            "She reads a book every night.",
            "Today the weather is nice.",
        ],
    ),
    "de": (
        [
            "Die Katze sitzt auf der Matte.",
            "Ein Hund bellt im Garten.",
            "Wir gingen gestern zum Markt.",
            "Sie liest jeden Abend Bücher.",
            "Das Wetter ist heute schön.",
        ],
        [
            "Die Katze saß auf der Matte.",
            "Ein Hund bellt im Garten.",
            "Gestern sind wir zum Markt gegangen.",
            "Sie liest jeden Abend ein Buch.",
            "Heute ist das Wetter schön.",
        ],
    ),
    "zh": (
        [
            "猫坐在垫子上。",
            "一只狗在花园里叫。",
            "我们昨天去了市场。",
            "她每天晚上看书。",
            "今天天气很好。",
        ],
        [
            "猫坐在垫子上。",
            "一只狗在花园里叫着。",
            "昨天我们去了市场。",
            "她每晚都读书。",
            "今天的天气很好。",
        ],
    ),
    "ja": (
        [
            "猫がマットの上に座った。",
            "犬が庭で吠えている。",
            "私たちは昨日市場に行った。",
            "彼女は毎晩本を読む。",
            "今日はいい天気です。",
        ],
        [
            "猫はマットの上に座った。",
            "犬が庭で吠えている。",
            "昨日私たちは市場へ行きました。",
            "彼女は毎晩本を読みます。",
            "今日は天気がいいです。",
        ],
    ),
}
EXPECTED_TOKENIZER = {"en": "13a", "de": "13a", "zh": "zh", "ja": "ja-mecab"}


def _sacrebleu_cli(tmp_path, lang: str, *args: str) -> list:
    hyps, refs = CASES[lang]
    ref, hyp = tmp_path / f"ref.{lang}", tmp_path / f"hyp.{lang}"
    ref.write_text("\n".join(refs) + "\n", encoding="utf-8")
    hyp.write_text("\n".join(hyps) + "\n", encoding="utf-8")
    cmd = [
        sys.executable,
        "-m",
        "sacrebleu",
        str(ref),
        "-i",
        str(hyp),
        "-m",
        "bleu",
        "chrf",
        "-w",
        "10",
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, encoding="utf-8")
    return json.loads(out.stdout)


@pytest.mark.parametrize("lang", sorted(CASES))
def test_scores_match_sacrebleu_command_line(tmp_path, lang):
    bleu_cli, chrf_cli = _sacrebleu_cli(tmp_path, lang, "-tok", EXPECTED_TOKENIZER[lang], "-b")
    hyps, refs = CASES[lang]
    got = mt.score_direction(hyps, refs, lang)
    assert got["n"] == 5
    assert got["bleu"] == pytest.approx(bleu_cli, abs=1e-6)
    assert got["chrf"] == pytest.approx(chrf_cli, abs=1e-6)
    assert mt.bleu(hyps, refs, lang) == got["bleu"]
    assert mt.chrf(hyps, refs) == got["chrf"]
    assert 0 < got["bleu"] < 100 and 0 < got["chrf"] < 100  # the cases are neither perfect nor disjoint


@pytest.mark.parametrize("lang", sorted(CASES))
def test_tokenizer_is_the_one_sacrebleu_picks_for_the_target_language(tmp_path, lang):
    assert mt.bleu_tokenizer(lang) == EXPECTED_TOKENIZER[lang]
    # Given only the language pair (-l), the command line chooses its own tokenizer.
    src = "de" if lang == "en" else "en"
    bleu_cli, chrf_cli = _sacrebleu_cli(tmp_path, lang, "-l", f"{src}-{lang}", "--format", "json")
    got = mt.score_direction(*CASES[lang], lang)
    assert got["signature_bleu"] == bleu_cli["signature"]
    assert got["signature_chrf"] == chrf_cli["signature"]
    assert got["bleu"] == pytest.approx(bleu_cli["score"], abs=1e-6)
    tok = dict(f.split(":", 1) for f in got["signature_bleu"].split("|"))["tok"]
    assert tok.startswith(EXPECTED_TOKENIZER[lang])
    assert "nc:6|nw:0" in got["signature_chrf"] and chrf_cli["name"] == "chrF2"


def test_tokenizer_table_is_sacrebleus():
    assert mt.TOKENIZERS == BLEU._TOKENIZER_MAP
    for lang in ("fr", "ru", "ar", "hi", "th", "vi"):
        assert mt.bleu_tokenizer(lang) == "13a"


def test_japanese_is_segmented_by_mecab():
    # 13a would see each unspaced sentence as one word; MeCab splits it into morphemes.
    assert "ja-mecab" in mt.score_direction(["猫が好きです。"], ["猫が好きです。"], "ja")["signature_bleu"]
    assert mt.bleu(["私は猫が好きです。"], ["私は犬が好きです。"], "ja") > 0


@pytest.mark.skipif(importlib.util.find_spec("mecab_ko") is not None, reason="mecab-ko is installed")
def test_missing_tokenizer_raises_instead_of_falling_back_to_13a():
    with pytest.raises(ImportError, match=r"'ko-mecab'.*sacrebleu\[ko\]"):
        mt.bleu(["안녕하세요"], ["안녕하세요"], "ko")


@pytest.mark.parametrize(
    ("hyps", "refs", "match"),
    [
        ([], [], "empty"),
        (["a", "b"], ["a"], "2 hypotheses but 1 references"),
        ("a sentence", ["a sentence"], "sequence of strings"),
        (["a"], [None], r"references\[0\] must be a string"),
    ],
)
def test_bad_input_raises(hyps, refs, match):
    for call in (lambda: mt.chrf(hyps, refs), lambda: mt.score_direction(hyps, refs, "en")):
        with pytest.raises(DataError, match=match):
            call()


def test_unknown_target_language_raises():
    with pytest.raises(DataError, match="unknown language code 'jp'"):
        mt.bleu(["a"], ["a"], "jp")

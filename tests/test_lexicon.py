"""Lexicons: the Concept/Lexicon API, the four file formats, format detection and every load error."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from xling.data.lexicon import Concept, Lexicon, merge_lexicons
from xling.data.lexicon_formats import detect_format, load_lexicon
from xling.errors import DataError

LATENT_HEADER = (
    "lang,word_original,word_translation,blank_prompt_original,blank_prompt_translation,"
    "blank_prompt_translation_masked,error\n"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, records: list) -> Path:
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


XLING = [
    {"id": "dog", "pos": "noun", "words": {"en": ["dog"], "fr": ["chien"], "zh": ["狗"]}},
    {"id": "cat", "pos": "noun", "words": {"en": ["cat"], "fr": ["chat"]}, "gloss": "feline"},
    {"id": "big", "pos": "adj", "words": {"en": ["big", "large"], "fr": "grand", "de": ["groß"]}},
]


@pytest.fixture
def lex(tmp_path) -> Lexicon:
    return load_lexicon(jsonl(tmp_path / "core.jsonl", XLING))


# --- xling JSONL and the Lexicon API ------------------------------------------------------------


def test_xling_jsonl_loads_in_order_with_synonyms_and_meta(lex):
    assert len(lex) == 3 and lex.ids == ("dog", "cat", "big") and lex.name == "core"
    assert [c.id for c in lex] == ["dog", "cat", "big"] and lex[0].id == "dog"
    assert lex.languages == ("en", "fr", "zh", "de")
    big = lex["big"]
    assert big.pos == "adj" and big.word("en") == "big" and big.accepted("en") == ("big", "large")
    assert big.accepted("fr") == ("grand",)  # a bare string is one word
    assert lex["cat"].meta == {"gloss": "feline"} and lex["dog"].meta == {}
    assert "dog" in lex and lex["dog"] in lex and "cow" not in lex
    assert lex.coverage() == {"en": 3, "fr": 3, "zh": 1, "de": 1}


def test_words_are_nfc_normalised_and_stripped(tmp_path):
    decomposed = unicodedata.normalize("NFD", "café")
    assert decomposed != "café"
    path = jsonl(tmp_path / "x.jsonl", [{"id": " cafe ", "words": {"FR": [f"  {decomposed} ", "", "café"]}}])
    concept = load_lexicon(path)["cafe"]
    assert concept.words == {"fr": ("café",)}  # NFC, stripped, blanks and repeats dropped, code lowercased
    assert concept.pos is None


def test_pairs_by_pos_word_pairs(lex):
    assert lex.pairs("en", "zh").ids == ("dog",)
    assert lex.pairs("fr", "en").ids == ("dog", "cat", "big")
    assert lex.word_pairs("en", "fr") == [("dog", ("chien",)), ("cat", ("chat",)), ("big", ("grand",))]
    assert lex.by_pos("NOUN").ids == ("dog", "cat")
    with pytest.raises(DataError, match=r"no concept with both de and zh \(de in 1, zh in 1 of 3 concepts\)"):
        lex.pairs("de", "zh")
    with pytest.raises(DataError, match=r"no concept with pos 'verb' \(it has: noun adj\)"):
        lex.by_pos("verb")
    with pytest.raises(DataError, match="unknown language code 'jp'"):
        lex.pairs("en", "jp")
    with pytest.raises(DataError, match="has no concept 'cow'"):
        lex["cow"]


def test_require_names_missing_languages_and_counts(lex):
    assert lex.require(["en", "fr"]) is lex and lex.require("en") is lex
    with pytest.raises(DataError) as err:
        lex.require(["en", "zh", "ko"])
    msg = str(err.value)
    assert "lexicon 'core' lacks zh in 2 of 3 concepts (e.g. 'cat', 'big')" in msg
    assert "ko in all 3 concepts" in msg and "\n" not in msg
    with pytest.raises(DataError, match="unknown language code 'xx'"):
        lex.require("xx")


def test_concept_accessors_and_hash(lex):
    dog = lex["dog"]
    assert dog.has("en", "zh") and not dog.has("de") and dog.languages == ("en", "fr", "zh")
    with pytest.raises(DataError, match=r"concept 'dog' has no de word \(it has en fr zh\)"):
        dog.word("de")
    assert len({dog, Concept("dog", "noun", {"en": "dog", "fr": "chien", "zh": "狗"})}) == 1


def test_concept_validation():
    with pytest.raises(DataError, match="non-empty string"):
        Concept("  ", None, {"en": "x"})
    with pytest.raises(DataError, match="has no words"):
        Concept("x", None, {})
    with pytest.raises(DataError, match="empty word list for fr"):
        Concept("x", None, {"en": "x", "fr": ["  "]})
    with pytest.raises(DataError, match="lists language 'fr' twice"):
        Concept("x", None, {"fr": "a", "FR": "b"})
    with pytest.raises(DataError, match="distractors for de but no de word"):
        Concept("x", None, {"en": "x"}, {"de": ["y"]})
    with pytest.raises(DataError, match=r"en distractor\(s\) \['large'\] are also accepted"):
        Concept("big", None, {"en": ["big", "large"]}, {"en": ["small", "large"]})
    with pytest.raises(DataError, match="meta keys \\['pos'\\] are reserved"):
        Concept("x", None, {"en": "x"}, meta={"pos": "noun"})


def test_lexicon_rejects_duplicate_ids_and_allows_empty_filters():
    a = Concept("a", None, {"en": "a"})
    with pytest.raises(DataError, match="duplicate concept id 'a'"):
        Lexicon([a, a])
    assert len(Lexicon([a]).filter(lambda c: False)) == 0


def test_to_jsonl_round_trips(lex, tmp_path):
    lex.to_jsonl(tmp_path / "out.jsonl")
    again = load_lexicon(tmp_path / "out.jsonl")
    assert list(again) == list(lex)


def test_src_tgt_restrict_any_format(tmp_path):
    path = jsonl(tmp_path / "core.jsonl", XLING)
    assert load_lexicon(path, src="en", tgt="zh").ids == ("dog",)
    assert load_lexicon(path, tgt="de").ids == ("big",)
    with pytest.raises(DataError, match="no ko words"):
        load_lexicon(path, src="ko")
    with pytest.raises(DataError, match="no concept with both fr and ko"):
        load_lexicon(path, src="fr", tgt="ko")


def test_merge_lexicons_unions_languages_and_rejects_conflicts():
    a = Lexicon([Concept("dog", "noun", {"en": "dog", "fr": "chien"})], name="a")
    b = Lexicon(
        [Concept("dog", None, {"fr": ["chien", "toutou"], "ja": "犬"}), Concept("cat", None, {"en": "cat"})],
        name="b",
    )
    merged = merge_lexicons([a, b], name="m")
    assert merged.ids == ("dog", "cat")
    assert merged["dog"].words == {"en": ("dog",), "fr": ("chien", "toutou"), "ja": ("犬",)}
    assert merged["dog"].pos == "noun"
    c = Lexicon([Concept("dog", None, {"fr": "chienne"})], name="c")
    with pytest.raises(
        DataError, match=r"concept 'dog' \('a' vs 'c'\): fr canonical word 'chien' vs 'chienne'"
    ):
        merge_lexicons([a, c])
    d = Lexicon([Concept("dog", "verb", {"en": "dog"})], name="d")
    with pytest.raises(DataError, match="pos 'noun' vs 'verb'"):
        merge_lexicons([a, d])


# --- MUSE -----------------------------------------------------------------------------------------

MUSE = "chat cat\nchat pussy\nchien\tdog\n\nchat cat\ncafé coffee\n"


def test_muse_merges_repeated_sources_into_one_concept(tmp_path):
    lex = load_lexicon(write(tmp_path / "fr-en.txt", MUSE))
    assert lex.ids == ("chat", "chien", "café") and lex.languages == ("fr", "en")
    assert lex["chat"].words == {"fr": ("chat",), "en": ("cat", "pussy")}  # the repeated pair counted once
    assert lex["chat"].pos is None and lex["chien"].word("en") == "dog"


def test_muse_file_name_variants_and_explicit_languages(tmp_path):
    assert load_lexicon(write(tmp_path / "en-de.0-5000.txt", "dog Hund\n")).languages == ("en", "de")
    plain = write(tmp_path / "dict.txt", "dog Hund\n")
    with pytest.raises(DataError, match="cannot tell the languages of a MUSE dictionary"):
        load_lexicon(plain)
    assert load_lexicon(plain, src="en", tgt="de")["dog"].words == {"en": ("dog",), "de": ("Hund",)}
    # a name that merely looks like xx-yy is ignored when src/tgt are given
    odd = write(tmp_path / "my-dict.txt", "dog Hund\n")
    assert load_lexicon(odd, src="en", tgt="de").languages == ("en", "de")


def test_muse_errors(tmp_path):
    with pytest.raises(DataError, match="file name says fr-en but src/tgt say en-fr"):
        load_lexicon(write(tmp_path / "fr-en.txt", MUSE), src="en", tgt="fr")
    with pytest.raises(DataError, match=r"xx-en\.txt: unknown language code 'xx'"):
        load_lexicon(write(tmp_path / "xx-en.txt", "a b\n"))
    with pytest.raises(DataError, match="both en"):
        load_lexicon(write(tmp_path / "en-en.txt", "a b\n"))
    bad = write(tmp_path / "de-en.txt", "Hund dog\nKatze\n")
    with pytest.raises(DataError, match=r"de-en\.txt:2: expected 'source target' .* got 1: 'Katze'"):
        load_lexicon(bad, format="muse")


# --- llm-latent-language clean.csv ------------------------------------------------------------------

FR_ROWS = (
    'fr,cloud,nuage,"A ""cloud"" is a visible mass. Answer: ""cloud"".","Un ""nuage"" est visible, '
    'oui. Réponse : ""nuage"".","Un ""___"" est visible. Réponse : ""nuage"".",no error\n'
    'fr,heart,cœur,"A ""heart"" pumps blood.","Le ""cœur"" pompe.","Le ""___"" pompe.",no error\n'
)
ZH_ROWS = 'zh,cloud,云,"A ""cloud"".","""云""。","""_""。"\nzh,book,书,"A ""book"".","""书""。","""_""。"\n'


def test_latent_csv_with_quoted_prompts_and_extra_columns(tmp_path):
    path = write(tmp_path / "langs" / "fr" / "clean.csv", LATENT_HEADER + FR_ROWS)
    assert detect_format(path) == "llm-latent-language"
    lex = load_lexicon(path)
    assert lex.ids == ("cloud", "heart") and lex.languages == ("en", "fr")
    assert lex["heart"].words == {"en": ("heart",), "fr": ("cœur",)}
    assert lex.word_pairs("fr", "en")[0] == ("nuage", ("cloud",))


def test_latent_folder_merges_languages_by_english_word(tmp_path):
    root = tmp_path / "langs"
    write(root / "fr" / "clean.csv", LATENT_HEADER + FR_ROWS)
    write(root / "zh" / "clean.csv", LATENT_HEADER.replace(",error", "") + ZH_ROWS)
    write(root / "en" / "clean.csv", LATENT_HEADER + 'en,cloud,cloud,"x","x","x",no error\n')
    lex = load_lexicon(root)
    assert lex.name == "langs" and set(lex.ids) == {"cloud", "heart", "book"}
    assert lex["cloud"].words == {"en": ("cloud",), "fr": ("nuage",), "zh": ("云",)}
    assert load_lexicon(root, src="fr", tgt="zh").ids == ("cloud",)


def test_latent_language_from_folder_name_or_tgt(tmp_path):
    no_lang = "word_original,word_translation,extra\ncloud,Wolke,1\n"
    assert load_lexicon(write(tmp_path / "de" / "clean.csv", no_lang))["cloud"].word("de") == "Wolke"
    elsewhere = write(tmp_path / "misc" / "words.csv", no_lang)
    with pytest.raises(DataError, match=r"no 'lang' column and the folder name 'misc' .* pass tgt="):
        load_lexicon(elsewhere)
    assert load_lexicon(elsewhere, tgt="de")["cloud"].word("de") == "Wolke"


def test_latent_errors(tmp_path):
    with pytest.raises(DataError, match="CSV header has no word_original and word_translation columns"):
        load_lexicon(write(tmp_path / "a.csv", "lang,word,translation\nfr,a,b\n"))
    with pytest.raises(DataError, match=r"b\.csv: CSV has no column\(s\) word_translation"):
        load_lexicon(
            write(tmp_path / "b.csv", "lang,word_original,x\nfr,a,b\n"), format="llm-latent-language"
        )
    bad_lang = write(tmp_path / "c.csv", "lang,word_original,word_translation\nfr,a,b\nxx,c,d\n")
    with pytest.raises(DataError, match=r"c\.csv:3: unknown language code 'xx'"):
        load_lexicon(bad_lang)
    blank = write(tmp_path / "d.csv", "lang,word_original,word_translation\nfr,a,\n")
    with pytest.raises(DataError, match=r"d\.csv:2: empty word_translation"):
        load_lexicon(blank)
    ragged = write(tmp_path / "e.csv", "lang,word_original,word_translation\nfr,a,b\nfr,c,d,e\n")
    with pytest.raises(DataError, match=r"e\.csv:3: row has more fields than the header"):
        load_lexicon(ragged)


# --- CLWTD-style records ------------------------------------------------------------------------------

CLWTD = [
    {
        "en": "dog",
        "fr": "chien",
        "zh": "狗",
        "ja": ["犬", "いぬ"],
        "pos": "noun",
        "distractors": {"en": ["cat", "cow"], "fr": ["chat"], "ja": ["猫"]},
        "source": "wiktionary",
    },
    {"en": "light", "fr": "léger", "pos": "adj"},
    {"en": "light", "fr": "lumière", "pos": "noun"},
    {"fr": "pomme", "de": "Apfel"},
]


def test_clwtd_jsonl_words_distractors_and_derived_ids(tmp_path):
    path = jsonl(tmp_path / "clwtd.jsonl", CLWTD)
    assert detect_format(path) == "clwtd"
    lex = load_lexicon(path)
    assert lex.ids == ("dog", "light", "light:2", "fr:pomme")
    dog = lex["dog"]
    assert dog.accepted("ja") == ("犬", "いぬ") and dog.pos == "noun"
    assert dog.distractors == {"en": ("cat", "cow"), "fr": ("chat",), "ja": ("猫",)}
    assert dog.meta == {"source": "wiktionary"}
    assert lex["light:2"].word("fr") == "lumière"


@pytest.mark.parametrize("wrap", [lambda rs: rs, lambda rs: {"data": rs}])
def test_clwtd_json_array_or_container(tmp_path, wrap):
    path = write(tmp_path / "clwtd.json", json.dumps(wrap(CLWTD), ensure_ascii=False, indent=2))
    assert load_lexicon(path).ids == ("dog", "light", "light:2", "fr:pomme")


def test_clwtd_errors(tmp_path):
    dup = [{"id": "x", "en": "a"}, {"id": "y", "en": "b"}, {"id": "x", "en": "c"}]
    with pytest.raises(
        DataError, match=r"dup\.jsonl:3: duplicate concept id 'x' \(first at .*dup\.jsonl:1\)"
    ):
        load_lexicon(jsonl(tmp_path / "dup.jsonl", dup))
    clash = [{"en": "big", "distractors": {"en": ["big"]}}]
    with pytest.raises(DataError, match=r"clash\.jsonl:1: concept 'big': en distractor"):
        load_lexicon(jsonl(tmp_path / "clash.jsonl", clash))
    unknown = [{"en": "a", "xx": "b"}]
    with pytest.raises(DataError, match=r"unknown\.jsonl:1: unknown language code 'xx'"):
        load_lexicon(jsonl(tmp_path / "unknown.jsonl", unknown))
    with pytest.raises(DataError, match=r"l\.json: record 2: expected a JSON object, got list$"):
        load_lexicon(write(tmp_path / "l.json", '[{"en": "a"}, ["b"]]'))


# --- detection and general errors ------------------------------------------------------------------


def test_detection_by_extension_and_content(tmp_path):
    assert detect_format(jsonl(tmp_path / "a.jsonl", XLING)) == "xling"
    assert detect_format(jsonl(tmp_path / "a.txt", XLING)) == "xling"  # content beats the .txt name
    assert detect_format(write(tmp_path / "noext", "\n\nchien dog\n")) == "muse"
    assert detect_format(write(tmp_path / "b.txt", LATENT_HEADER + FR_ROWS)) == "llm-latent-language"
    assert detect_format(jsonl(tmp_path / "c.json", CLWTD)) == "clwtd"  # JSONL under a .json name


def test_explicit_format_overrides_detection(tmp_path):
    path = jsonl(tmp_path / "fr-en.txt", XLING[:1])
    assert load_lexicon(path).ids == ("dog",)
    with pytest.raises(DataError, match=r"fr-en\.txt:1: expected 'source target'"):
        load_lexicon(path, format="muse")
    with pytest.raises(DataError, match="unknown lexicon format 'csv'; known formats: xling, muse"):
        load_lexicon(path, format="csv")


def test_general_errors(tmp_path):
    with pytest.raises(DataError, match=r"no such lexicon file: .*missing\.jsonl"):
        load_lexicon(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match=r"cannot tell the lexicon format .* pass format="):
        load_lexicon(write(tmp_path / "x.txt", "one two three\n"))
    with pytest.raises(DataError, match="empty lexicon"):
        load_lexicon(write(tmp_path / "e.jsonl", "\n  \n"))
    with pytest.raises(DataError, match="empty lexicon"):
        load_lexicon(write(tmp_path / "e.json", "[]"))
    with pytest.raises(DataError, match="empty lexicon"):
        load_lexicon(write(tmp_path / "fr-en.txt", ""), format="muse")
    bad = write(tmp_path / "bad.jsonl", json.dumps(XLING[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON line"):
        load_lexicon(bad)
    dup = jsonl(tmp_path / "dup.jsonl", [XLING[0], XLING[1], XLING[0]])
    with pytest.raises(DataError, match=r"dup\.jsonl:3: duplicate concept id 'dog' \(first at .*:1\)"):
        load_lexicon(dup)
    unknown = jsonl(tmp_path / "u.jsonl", [{"id": "a", "words": {"en": ["a"], "jp": ["b"]}}])
    with pytest.raises(DataError, match=r"u\.jsonl:1: unknown language code 'jp'; did you mean 'ja'"):
        load_lexicon(unknown)
    no_words = jsonl(tmp_path / "w.jsonl", [{"id": "a", "words": {"en": ["a"]}}, {"id": "b", "words": {}}])
    with pytest.raises(DataError, match=r"w\.jsonl:2: concept 'b' has no words"):
        load_lexicon(no_words)
    no_id = jsonl(tmp_path / "n.jsonl", [{"words": {"en": ["a"]}}])
    with pytest.raises(DataError, match=r"n\.jsonl:1: record has no 'id' key"):
        load_lexicon(no_id)
    with pytest.raises(DataError, match=r"folder with no clean\.csv"):
        load_lexicon(tmp_path)


def test_every_error_is_one_line(tmp_path):
    bad = jsonl(tmp_path / "u.jsonl", [{"id": "a", "words": {"en": ["a"], "zz": ["b"]}}])
    with pytest.raises(DataError) as err:
        load_lexicon(bad)
    assert "\n" not in str(err.value)


def test_bundled_core_lexicon():
    from xling.experiments.word_translation import BUNDLED_LEXICON

    core = load_lexicon(BUNDLED_LEXICON)
    langs = ("en", "fr", "de", "es", "it", "ro", "el", "ru", "tr", "ar", "hi", "th", "vi", "zh", "ja")
    assert len(core) >= 200 and set(core.languages) == set(langs)
    core.require(langs)
    assert {c.pos for c in core} == {"noun", "verb", "adjective"}
    assert min(len(core.by_pos(p)) for p in ("noun", "verb", "adjective")) >= 40

"""Surface tests (translation, code-switched embeddings): the prompt, bad input, the pooling on
a tiny model, and the runlocal config end to end on the embedded models."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_model, with_fields
from scipy.stats import wilcoxon

from xling.errors import DataError
from xling.experiments import surface as experiment
from xling.knowledge import surface
from xling.metrics.mt import score_direction

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "surface.py"
get_config = runpy.run_path(str(CONFIG))["get_config"]
MODELS = ("gemma3-270m", "smollm2-135m-instruct")


def small_config(**fields):
    c = get_config("runlocal")
    c.progress = False
    return with_fields(c, **fields)


# ------------------------------------------------------------------------------ no model needed


def test_mt_prompt_by_hand():
    demos = [{"en": "Good morning.", "fr": "Bonjour."}, {"en": "Thank you.", "fr": "Merci."}]
    prompt = surface.mt_prompt(demos, "The cat sleeps.", "en", "fr")
    assert prompt == (
        "English: Good morning.\nFrench: Bonjour.\n\n"
        "English: Thank you.\nFrench: Merci.\n\n"
        "English: The cat sleeps.\nFrench:"
    )
    assert surface.mt_prompt([], "Le chat dort.", "fr", "en") == "French: Le chat dort.\nEnglish:"


def test_demonstrations_are_never_test_sentences():
    sentences, langs = surface.load_sentences()
    assert len(sentences) == 110 and set(langs) == {"en", "fr", "de", "es", "it", "zh", "ja", "ru"}
    demos, tests = surface.split_sentences(sentences, 3, 0)
    assert [d["id"] for d in demos] == ["s001", "s002", "s003"] and len(tests) == 107
    assert not {d["id"] for d in demos} & {t["id"] for t in tests}
    _, tests = surface.split_sentences(sentences, 3, 5)
    assert [t["id"] for t in tests] == ["s004", "s005", "s006", "s007", "s008"]
    p = experiment.plan(small_config())
    assert len(p.tests) == 4 and p.directions == [("en", "fr"), ("de", "en")]
    assert len(p.passages) == 6
    for passage in p.passages:  # the three variants perturb the same positions
        counts = {(v["replaced"], v["eligible"], v["words"]) for v in passage["variants"].values()}
        assert len(counts) == 1


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"directions": "en-xx"}, "unknown language code 'xx'"),
        ({"directions": "en-ko"}, "the sentence set has no ko"),
        ({"directions": "en-en"}, "into itself"),
        ({"directions": "enfr"}, "two language codes"),
        ({"directions": ""}, "no direction"),
        ({"shots": 110}, "leaves no test sentence"),
        ({"shots": 500}, "leaves no test sentence"),
        ({"shots": -1}, "config.shots"),
        ({"num_sentences": -1}, "config.num_sentences"),
        ({"passage_sources": "wiki"}, "unknown source 'wiki'"),
        ({"codeswitch.rate": 1.5}, "rate must be in"),
        ({"codeswitch.languages": "fr,en"}, "must not include 'en'"),
        ({"models": ""}, "no model"),
        ({"data.sentences": "/nonexistent/sentences.jsonl"}, "no file at"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(fields, message, tmp_path):
    with pytest.raises(DataError, match=message):
        experiment.run(small_config(**fields), tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_a_muse_dictionary_can_be_the_switching_lexicon(tmp_path):
    muse = tmp_path / "en-fr.txt"
    muse.write_text("the le\nthe la\ntown ville\nsalt sel\n", encoding="utf-8")
    c = small_config(
        **{"codeswitch.lexicon": str(muse), "codeswitch.languages": "fr", "codeswitch.rate": 1.0}
    )
    p = experiment.plan(with_fields(c, passage_sources="xquad", passages=0))
    switched = [v["variants"]["code_switched"] for v in p.passages]
    assert sum(v["eligible"] for v in switched) == sum(v["replaced"] for v in switched) > 0
    words = [set(re.findall(r"\w+", v["text"].casefold())) for v in switched]
    assert any("ville" in w for w in words) and any("le" in w for w in words)
    assert not {"town", "salt", "the"} & set().union(*words)
    assert "data:en-fr.txt" in p.inputs  # the lexicon's digest is part of the run's fingerprint


class _Tokenizer:
    """Characters as ids (1..), BOS 1, pad 0: enough for `pooled_hidden`."""

    bos_id, pad_id = 1, 0

    def encode(self, text, add_special_tokens=True):
        return [1] * add_special_tokens + [2 + ord(ch) % 90 for ch in text]


def test_pooling_in_a_batch_equals_each_text_alone():
    model = tiny_model()
    tok = _Tokenizer()
    texts = ["a short one", "a much longer text than the first", "mid length", "x"]
    together = surface.pooled_hidden(model, tok, texts, batch_size=3)
    assert together.shape == (4, model.cfg.num_layers + 1, model.cfg.d_model)
    for i, t in enumerate(texts):
        alone = surface.pooled_hidden(model, tok, [t], batch_size=1)[0]
        np.testing.assert_allclose(together[i], alone, rtol=1e-4, atol=1e-5)
    # Without the BOS token in the pool, layer 0 is the mean of the text's own embeddings.
    table = np.asarray(model.embed[...]) * model.cfg.embed_scale
    ids = tok.encode(texts[0])[1:]
    np.testing.assert_allclose(together[0, 0], table[ids].mean(0), rtol=1e-4, atol=1e-5)
    with_bos = surface.pooled_hidden(model, tok, texts[:1], batch_size=1, skip_bos=False)[0, 0]
    np.testing.assert_allclose(with_bos, table[tok.encode(texts[0])].mean(0), rtol=1e-4, atol=1e-5)


def test_centred_cosines_by_hand():
    """cosines_centred subtracts the mean pooled state of all the run's texts (originals and
    variants), per layer and dimension; raw cosines are plain cosines of the pooled states."""
    from types import SimpleNamespace

    model, tok = tiny_model(), _Tokenizer()
    passages = [
        {
            "id": f"p{n}",
            "source": "sentences",
            "text": text,
            "variants": {
                k: {"text": f"{text} {k}", "replaced": 1, "eligible": 2, "words": 3} for k in surface.KINDS
            },
        }
        for n, text in enumerate(["one two three", "four five", "six seven eight nine"])
    ]
    rt = SimpleNamespace(model=model, tokenizer=tok, partitioning=None)
    records = surface.embedding_records(rt, "tiny", passages, batch_size=4, skip_bos=True)
    texts = [t for p in passages for t in (p["text"], *(p["variants"][k]["text"] for k in surface.KINDS))]
    pooled = surface.pooled_hidden(model, tok, texts, batch_size=4).astype(np.float64)
    mean = pooled.mean(axis=0)
    for r in records:
        n, j = int(r["id"][1:]), 1 + surface.KINDS.index(r["kind"])
        a, b = pooled[4 * n], pooled[4 * n + j]
        raw = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        a, b = a - mean, b - mean
        cen = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        np.testing.assert_allclose(r["cosines"], raw, atol=2e-6)
        np.testing.assert_allclose(r["cosines_centred"], cen, atol=2e-6)


def test_summary_statistics_on_synthetic_records():
    rng = np.random.default_rng(0)
    records = []
    for n in range(12):
        base = rng.uniform(0.8, 0.9, 3)
        for kind, shift in (("code_switched", 0.05), ("random", 0.0), ("deleted", 0.06)):
            records.append(
                {
                    "model": "m",
                    "test": "embeddings",
                    "id": f"p{n}",
                    "kind": kind,
                    "cosines": list(base + shift + rng.normal(0, 0.01, 3)),
                    "replaced": 1,
                    "eligible": 4,
                    "words": 10,
                }
            )
    s = surface.summarize(records, centre=False, n_resamples=100)
    (e,) = s["embeddings"]
    assert e["n"] == 12 and e["realised_rate"] == 0.25 and len(e["layers"]) == 3
    for layer in e["layers"]:
        cs = [r["cosines"][layer["layer"]] for r in records if r["kind"] == "code_switched"]
        rd = [r["cosines"][layer["layer"]] for r in records if r["kind"] == "random"]
        assert layer["p_vs_random"] == pytest.approx(wilcoxon(cs, rd, alternative="greater").pvalue)
        assert layer["p_vs_random"] < 0.05 < layer["p_vs_deleted"]
        assert layer["code_switched"][1] <= np.mean(cs) <= layer["code_switched"][2]
    # Every pair tied (nothing replaced): no test, not an error.
    tied = [dict(r, cosines=[1.0, 1.0, 1.0]) for r in records]
    assert all(
        layer["p_vs_random"] is None
        for layer in surface.summarize(tied, centre=False, n_resamples=10)["embeddings"][0]["layers"]
    )


# ----------------------------------------------------------------------------- embedded models


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("surface")
    summary = experiment.run(small_config(), work)
    return work, summary


def read_results(work):
    return [json.loads(line) for line in (work / "results.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_outputs_exist_and_parse(finished):
    work, summary = finished
    names = ["config.json", "summary.json", "summary.md"]
    names += [f"{kind}_{m}.png" for m in MODELS for kind in ("similarity_by_layer", "translation")]
    for name in names:
        assert (work / name).stat().st_size > 0, name
    assert json.loads((work / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert "| gemma3-270m | en-fr | 4 |" in (work / "summary.md").read_text()
    records = read_results(work)
    mt = [r for r in records if r["test"] == "translation"]
    emb = [r for r in records if r["test"] == "embeddings"]
    assert len(mt) == 2 * 2 * 4 and len(emb) == 2 * 6 * 3
    for r in mt:
        assert set(r) >= {"model", "direction", "id", "prompt", "source", "reference", "hypothesis"}
        assert r["hypothesis"] == r["generation"].strip() and r["prompt"].endswith(
            r["source"] + f"\n{'French' if r['tgt'] == 'fr' else 'English'}:"
        )
        assert r["id"] not in ("s001", "s002", "s003")
    for r in emb:
        assert r["kind"] in surface.KINDS and 0 <= r["replaced"] <= r["eligible"] <= r["words"]
    assert len(list((work / "units").glob("*.jsonl"))) == 4


@pytest.mark.slow
def test_summary_scores_equal_score_direction_on_the_records(finished):
    work, summary = finished
    records = read_results(work)
    assert len(summary["translation"]) == 4
    for row in summary["translation"]:
        rs = [r for r in records if r["model"] == row["model"] and r.get("direction") == row["direction"]]
        expected = score_direction([r["hypothesis"] for r in rs], [r["reference"] for r in rs], rs[0]["tgt"])
        assert {k: row[k] for k in expected} == expected
        assert "tok:13a" in row["signature_bleu"]


@pytest.fixture(scope="module")
def runtimes():
    from xling.runtime import load_runtime, model_block

    return {m: load_runtime(model_block(small_config(), m)) for m in MODELS}


@pytest.mark.slow
def test_cosines_one_per_layer_in_range(finished, runtimes):
    work, summary = finished
    records = read_results(work)
    for model, rt in runtimes.items():
        layers = rt.config.num_layers + 1
        emb = [r for r in records if r["model"] == model and r["test"] == "embeddings"]
        for r in emb:
            assert len(r["cosines"]) == len(r["cosines_centred"]) == layers
            assert all(-1.0 <= c <= 1.0 for c in r["cosines"] + r["cosines_centred"])
            if r["replaced"] == 0:
                assert r["text"] == r["original"] and min(r["cosines"]) > 1 - 1e-5
        (e,) = [e for e in summary["embeddings"] if e["model"] == model]
        assert len(e["layers"]) == layers and e["n"] == 6


@pytest.mark.slow
def test_recorded_prompt_reproduces_the_hypothesis(finished, runtimes):
    """A recorded prompt generated alone (no batch, no shared prefix) gives the same text."""
    from xling.inference.generation import generate

    work, _ = finished
    records = [r for r in read_results(work) if r["test"] == "translation"]
    for model, rt in runtimes.items():
        r = [r for r in records if r["model"] == model][1]
        out = generate(rt.model, rt.tokenizer, [r["prompt"]], max_new_tokens=64, stop=["\n"])
        assert out.texts[0] == r["generation"], (model, r["id"], r["direction"])


@pytest.mark.slow
def test_rerun_skips_finished_units(finished, monkeypatch):
    work, summary = finished

    def boom(*args, **kwargs):
        raise AssertionError("a finished unit was recomputed")

    monkeypatch.setattr(surface, "translation_records", boom)
    monkeypatch.setattr(surface, "embedding_records", boom)
    monkeypatch.setattr(experiment, "load_runtime", boom)
    again = experiment.run(small_config(bootstrap=50), work)  # a report field may change
    assert again["translation"] == summary["translation"]

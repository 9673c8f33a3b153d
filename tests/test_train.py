"""The train step on tiny models: the loss falls, accumulation is exact, packed rows equal
separate rows, and the optimizer config is strict."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import run_on_8_devices, tiny_model

from xling.errors import DataError
from xling.train.loss import Batch, loss_sum, token_nll
from xling.train.optim import OptimizerConfig, make_optimizer, schedule
from xling.train.step import init_state, make_train_step, model_of, stack

RNG = np.random.default_rng(0)


def _rows(n, length=10, vocab=97):
    return [list(RNG.integers(3, vocab, RNG.integers(4, length + 1))) for _ in range(n)]


def _setup(seed=0, **opt):
    model = tiny_model(seed)
    cfg = OptimizerConfig(**{"learning_rate": 3e-3, "total_steps": 50, "warmup_steps": 2, **opt})
    optimizer = make_optimizer(cfg)
    graphdef, state = init_state(model, optimizer)
    return graphdef, state, make_train_step(graphdef, optimizer, schedule(cfg), donate=False)


def test_loss_falls_on_a_repeated_batch():
    _, state, step = _setup(learning_rate=1e-2)
    batch = stack([Batch.from_rows(_rows(8), 12)])
    losses = []
    for _ in range(30):
        state, m = step(state, batch)
        losses.append(float(m["loss"]))
    assert losses[-1] < 0.5 * losses[0], losses
    assert int(state.step) == 30


def test_accumulation_4x2_equals_one_batch_of_8():
    rows = _rows(8)
    _, s1, step = _setup(1)
    _, s2, _ = _setup(1)
    one = stack([Batch.from_rows(rows, 12)])
    four = stack([Batch.from_rows(rows[i : i + 2], 12) for i in range(0, 8, 2)])
    a, ma = step(s1, one)
    b, mb = step(s2, four)
    assert float(ma["tokens"]) == float(mb["tokens"])
    np.testing.assert_allclose(ma["loss"], mb["loss"], rtol=1e-6)
    np.testing.assert_allclose(ma["grad_norm"], mb["grad_norm"], rtol=1e-5)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_packed_rows_equal_separate_rows():
    """Two documents packed in one row (segments 1, 2, then padding 0) give the same summed
    loss and count as the two documents in rows of their own."""
    model = tiny_model(2)
    a, b = [5, 7, 9, 11, 13], [17, 19, 23, 29]
    tokens = np.array([[*a, *b, 0, 0, 0]], np.int32)
    seg = np.array([[1] * 5 + [2] * 4 + [0] * 3], np.int32)
    targets = np.array([[*a[1:], 0, *b[1:], 0, 0, 0, 0]], np.int32)
    mask = np.array([[1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0]], np.float32)  # no cross-document target
    packed = loss_sum(model, Batch(tokens, targets, mask, seg))
    separate = loss_sum(model, Batch.from_rows([a, b], 12))
    np.testing.assert_allclose(packed[0], separate[0], rtol=1e-6)
    assert float(packed[1]) == float(separate[1]) == 7


def test_prompt_tokens_are_not_scored():
    batch = Batch.from_rows([[3, 4, 5, 6, 7]], 8, prompt_lengths=[3])
    # tokens 3 4 5 | 6 7: the targets scored are 6 (after 5) and 7 (after 6)
    np.testing.assert_array_equal(batch.loss_mask[0], [0, 0, 1, 1, 0, 0, 0, 0])
    model = tiny_model(3)
    logits = model(batch.tokens).logits
    nll = token_nll(logits, batch.targets)[0]
    s, c = loss_sum(model, batch)
    np.testing.assert_allclose(s, nll[2] + nll[3], rtol=1e-6)
    assert float(c) == 2


def test_strict_optimizer_config_and_schedule():
    with pytest.raises(DataError, match="unknown optimizer field 'lr'"):
        OptimizerConfig.from_mapping({"lr": 1e-3})
    with pytest.raises(DataError, match="schedule must be one of"):
        OptimizerConfig(schedule="step")
    with pytest.raises(DataError, match="warmup_steps 20 > total_steps 10"):
        OptimizerConfig(warmup_steps=20, total_steps=10)
    lr = schedule(OptimizerConfig(learning_rate=1.0, warmup_steps=4, total_steps=12, schedule="linear"))
    np.testing.assert_allclose([float(lr(i)) for i in (0, 2, 4, 8, 12)], [0, 0.5, 1, 0.5, 0], atol=1e-6)
    with pytest.raises(DataError, match=r"row 0: 1 tokens \(need 2..8\)"):
        Batch.from_rows([[3]], 8)


def test_weight_decay_skips_vectors():
    graphdef, state, step = _setup(
        4, learning_rate=1.0, weight_decay=0.5, warmup_steps=0, schedule="constant"
    )
    before = model_of(graphdef, state)
    zero = stack([Batch(*(np.zeros((1, 8), np.int32),) * 2, np.zeros((1, 8), np.float32),
                        np.ones((1, 8), np.int32))])  # fmt: skip
    after, _ = step(state, zero)  # no scored token: the gradient is 0, only decay acts
    m = model_of(graphdef, after)
    assert np.array_equal(np.asarray(m.final_norm.scale[...]), np.asarray(before.final_norm.scale[...]))
    assert not np.array_equal(np.asarray(m.embed[...]), np.asarray(before.embed[...]))


def test_sharded_step_on_8_devices_equals_one_device(tmp_path):
    """FSDP / data / tensor meshes of 8 simulated devices (a subprocess): two AdamW steps give
    the single-device losses and parameters, with the optimizer moments sharded like the
    parameters. Tolerance: Adam's first updates are ~lr * sign(g), so components whose
    gradient is near zero amplify reduction-order rounding; 1e-4 is 1% of one step (lr 1e-2)."""
    result = run_on_8_devices("sharded_train.py", tmp_path, timeout=600)
    for mesh, r in result.items():
        assert r["loss_err"] < 1e-5 and r["param_err"] < 1e-4, (mesh, r)
        fsdp = int(mesh.split("x")[1])
        tensor = int(mesh.split("x")[2])
        assert r["embed_shard"] == [96 // tensor, 32 // fsdp], (mesh, r["embed_shard"])
        if fsdp > 1:
            assert any("fsdp" in s for s in r["moment_shards"]), (mesh, r["moment_shards"])


def _data(step: int):
    """A deterministic batch per step (what a resumed run must see again)."""
    rng = np.random.default_rng(step)
    rows = [list(rng.integers(3, 97, rng.integers(4, 11))) for _ in range(4)]
    return stack([Batch.from_rows(rows, 12)])


def test_resume_after_a_kill_gives_the_same_losses(tmp_path):
    from xling.train.loop import train

    cfg = OptimizerConfig(learning_rate=5e-3, warmup_steps=2, total_steps=8)
    _, whole = train(tiny_model(6), _data, steps=8, optimizer=cfg, workdir=tmp_path / "a", checkpoint_every=3)
    # Interrupted after 5 steps (the last checkpoint is at 3), then run again to the end.
    train(
        tiny_model(6), _data, steps=8, optimizer=cfg, workdir=tmp_path / "b", checkpoint_every=3, stop_after=5
    )
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir() if p.name.isdigit()) == ["3"]
    _, resumed = train(
        tiny_model(6), _data, steps=8, optimizer=cfg, workdir=tmp_path / "b", checkpoint_every=3
    )
    assert [r["step"] for r in resumed] == list(range(1, 9))
    assert [r["loss"] for r in resumed] == [r["loss"] for r in whole]  # exactly
    text = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert text[0] == "step,loss,tokens,grad_norm,learning_rate,seconds" and len(text) == 9
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(tmp_path / "a" / "tensorboard"))
    board.Reload()
    logged = [(e.step, e.value) for e in board.Scalars("loss")]
    assert [s for s, _ in logged] == list(range(1, 9))
    np.testing.assert_allclose([v for _, v in logged], [r["loss"] for r in whole], rtol=1e-6)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    from xling.train.checkpoint import CheckpointError
    from xling.train.loop import train

    cfg = OptimizerConfig(learning_rate=1e-3, total_steps=2)
    train(tiny_model(7), _data, steps=2, optimizer=cfg, workdir=tmp_path, checkpoint_every=1)
    with pytest.raises(CheckpointError, match=r"checkpoint of another model \(num_layers 4, this model 2\)"):
        train(tiny_model(7, num_layers=2, layer_types=("local", "global")), _data, steps=3, optimizer=cfg,
              workdir=tmp_path)  # fmt: skip


def test_packing_by_hand_and_its_loss():
    from xling.train.data import pack

    rows = pack([[1, 5, 6, 2], [1, 7, 2], [1, 8, 9, 10, 11, 2]], 8)
    assert len(rows) == 2
    np.testing.assert_array_equal(rows[0]["tokens"], [1, 5, 6, 2, 1, 7, 2, 0])
    np.testing.assert_array_equal(rows[0]["segment_ids"], [1, 1, 1, 1, 2, 2, 2, 0])
    np.testing.assert_array_equal(rows[0]["loss_mask"], [1, 1, 1, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(rows[0]["targets"][:6], [5, 6, 2, 0, 7, 2])
    np.testing.assert_array_equal(rows[1]["tokens"][:6], [1, 8, 9, 10, 11, 2])
    long = pack([list(range(3, 23))], 8)  # 20 tokens: pieces of 8, 8, 4
    assert [int(r["segment_ids"].astype(bool).sum()) for r in long] == [8, 8, 4]


def test_grain_batches_are_a_function_of_the_step():
    from xling.train.data import batches, pack

    docs = [[1, *range(3, 3 + k), 2] for k in range(2, 30)]
    rows = pack(docs, 16)
    a, b = (
        batches(rows, batch_size=2, accumulation=2, seed=1),
        batches(rows, batch_size=2, accumulation=2, seed=1),
    )
    for step in (5, 0, 17, 5):  # any order, any step: the same batch
        x, y = a(step), b(step)
        assert x.tokens.shape == (2, 2, 16)
        np.testing.assert_array_equal(x.tokens, y.tokens)
    assert not np.array_equal(a(0).tokens, batches(rows, batch_size=2, accumulation=2, seed=2)(0).tokens)
    with pytest.raises(DataError, match=r"has 3 rows, fewer than one step's 4 \(2 x 2\)"):
        batches(rows[:3], batch_size=2, accumulation=2)


@pytest.mark.slow
@pytest.mark.memory_heavy(gb=5)  # 3-4 GB measured
def test_export_round_trip_in_transformers_and_xling(tmp_path):
    """A trained model exported as an HF directory: transformers loads it with per-layer
    parity and the same tokenizer ids, and xling.load reads it back exactly."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import xling
    from xling.checkpoints.export import export_hf
    from xling.errors import XlingError

    m = xling.load("smollm2-135m-instruct")
    cfg = OptimizerConfig(learning_rate=1e-4, total_steps=1)
    opt = make_optimizer(cfg)
    graphdef, state = init_state(m.model, opt)
    rows = [m.tokenizer.encode("Le chat dort sur le canapé. The cat sleeps on the sofa.")]
    step = make_train_step(graphdef, opt, schedule(cfg), donate=False)  # m.model is used below
    state, _ = step(state, stack([Batch.from_rows(rows, 32)]))
    trained = model_of(graphdef, state)  # one step: not the released weights any more
    out = export_hf(trained, m.tokenizer, m.path, tmp_path / "hf")
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in out.iterdir()
    }
    text = "Mixed-language fine-tuning lowers the barrier."
    ids = m.tokenizer.encode(text)
    assert AutoTokenizer.from_pretrained(out)(text)["input_ids"] == ids
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        ref = hf(torch.tensor([ids]), output_hidden_states=True)
    ours = trained(np.array([ids]), return_hidden=True)
    assert np.abs(np.asarray(ours.logits) - np.asarray(m.model(np.array([ids])).logits)).max() > 1e-3
    h = np.asarray(ours.hidden_states)[:, 0]
    for layer in range(m.config.num_layers):  # HF's last entry is after the final norm
        err = np.abs(h[layer] - ref.hidden_states[layer][0].numpy()).max() / np.abs(h[layer]).max()
        assert err < 2e-5, (layer, err)  # measured 6.3e-6 (SmolLM2-135M-Instruct)
    np.testing.assert_allclose(ours.logits[0], ref.logits[0].numpy(), atol=1e-3)
    back = xling.load(out)
    np.testing.assert_array_equal(back.model(np.array([ids])).logits, ours.logits)
    with pytest.raises(XlingError, match="exists and is not empty"):
        export_hf(trained, m.tokenizer, m.path, out)


@pytest.mark.slow
@pytest.mark.memory_heavy(gb=5)  # 3-4 GB measured
def test_evaluation_hook_runs_an_experiment_on_the_current_weights(tmp_path):
    """Every N steps the hook exports the weights and runs a real experiment (knowledge
    barriers, one question) on them; a resumed run does not evaluate a finished step again."""
    import json
    import runpy
    from pathlib import Path

    import xling
    from xling.train.data import batches, pack, tokenize_documents
    from xling.train.hooks import experiment_hook
    from xling.train.loop import train

    m = xling.load("smollm2-135m-instruct")
    config = Path(__file__).resolve().parents[1] / "experiments" / "knowledge_barriers.py"
    kb = runpy.run_path(str(config))["get_config"]("runlocal")
    kb.models, kb.variants, kb.num_questions, kb.scoring = "ignored", "en", 1, "letter"
    kb.data.subjects, kb.progress, kb.bootstrap = "astronomy", False, 20
    from xling.experiments import find

    hook = experiment_hook(find(kb.experiment).run, kb, tmp_path / "eval", m.tokenizer, m.path)
    texts = ["The astronomer counted the moons of Jupiter.", "Les étoiles brillent la nuit."] * 2
    rows = pack(tokenize_documents(m.tokenizer, texts), 16, m.tokenizer.pad_id or 0)
    opt = OptimizerConfig(learning_rate=1e-3, total_steps=2)
    train(m.model, batches(rows, batch_size=2), steps=2, optimizer=opt, workdir=tmp_path / "run",
          hooks=[(1, hook)], checkpoint_every=1)  # fmt: skip
    probs = []
    for step in (1, 2):
        run = tmp_path / "eval" / f"step_{step}" / "run"
        assert json.loads((run / "config.json").read_text())["models"] == str(run.parent / "model")
        probs.append(json.loads((run / "results.jsonl").read_text().splitlines()[0])["letter_probs"])
    assert probs[0] != probs[1]  # the second step's weights are not the first's
    stamp = (tmp_path / "eval" / "step_2" / "run" / "summary.json").stat().st_mtime_ns
    hook(2, None)  # finished: skipped without touching the model
    assert (tmp_path / "eval" / "step_2" / "run" / "summary.json").stat().st_mtime_ns == stamp


def test_bf16_state_keeps_its_dtypes():
    """optax promotes bf16 moments to fp32; the step casts them back, so the state's
    signature (and the compiled step, and the donation aliasing) stays the same."""
    model = tiny_model(3, dtype="bfloat16", param_dtype="bfloat16")
    cfg = OptimizerConfig(learning_rate=1e-3, total_steps=5)
    opt = make_optimizer(cfg)
    graphdef, state = init_state(model, opt)
    before = [x.dtype for x in jax.tree.leaves(state)]
    step = make_train_step(graphdef, opt, schedule(cfg), donate=False)
    state, m = step(state, stack([Batch.from_rows(_rows(4), 12)]))
    assert [x.dtype for x in jax.tree.leaves(state)] == before
    assert np.isfinite(float(m["loss"])) and step._cache_size() == 1
    step(state, stack([Batch.from_rows(_rows(4), 12)]))
    assert step._cache_size() == 1

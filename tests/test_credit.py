"""Truncated BPTT, stateful streams and the forward-mode rules (rnn_jax.credit).

Exactness: truncation at the sequence length is BPTT bit for bit, and credit from more than
``k`` steps back is exactly zero; RTRL equals BPTT in float64 for every kind of cell; SnAp-1
and the diagonal rule equal it on diagonal recurrences; UORO's mean over draws approaches
BPTT's within its own standard error.
"""

from __future__ import annotations

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from rnn_jax import cells, credit, unroll
from rnn_jax.io.rundir import RunDir
from rnn_jax.model import SequenceModel
from rnn_jax.runner import run
from rnn_jax.training import Gradient, TrainConfig, model_for
from rnn_jax.optimizer import Optax
from rnn_jax.training.trainer import make_train
from rnn_jax.types import Batch
from tests.conftest import interrupt_after


def _float(tree):
    """``tree`` in the default float (float64 under ``jax.enable_x64``)."""
    dtype = jnp.asarray(0.0).dtype
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _problem(cell: str, readout: str = "all", lengths: bool = False, hidden: int = 6, steps: int = 7):
    """A model, parameters and batch in the default float (float64 under ``jax.enable_x64``)."""
    model = SequenceModel(cell, hidden, output_size=2, readout=readout)
    params = _float(model.init(jax.random.key(0), 3))
    inputs = jax.random.normal(jax.random.key(1), (4, steps, 3), jnp.asarray(0.0).dtype)
    batch = Batch(inputs, None, jnp.array([steps, 3, steps - 1, 1]) if lengths else None)
    return model, params, batch


def _loss(outputs):
    return jnp.mean(jnp.sin(outputs) ** 2)


def _bptt(model, params, batch):
    return ravel_pytree(jax.grad(lambda p: _loss(model.apply(p, batch.inputs, batch.lengths)))(params))[0]


def _rule(rule, model, params, batch, key=jax.random.key(2)):
    return ravel_pytree(credit.gradients(credit.Rule(rule), model, params, batch, _loss, key=key)[2])[0]


# --- truncated BPTT --------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "lru"])
def test_truncation_at_the_length_is_bptt_exactly(cell):
    model, params, batch = _problem(cell)
    full = jax.grad(lambda p: _loss(model.apply(p, batch.inputs)))(params)
    at_length = jax.grad(lambda p: _loss(model.apply(p, batch.inputs, truncation=7)))(params)
    jax.tree.map(np.testing.assert_array_equal, at_length, full)


@pytest.mark.parametrize("reverse", [False, True])
def test_credit_from_more_than_k_steps_back_is_exactly_zero(reverse):
    cell = cells.get("gru")
    params = cell.init(jax.random.key(0), 2, 5)
    xs = jax.random.normal(jax.random.key(1), (3, 10, 2))
    k = 4

    def outputs(probe):  # every h_t (summed over sequences and units), through the probe
        _, hs = unroll(cell, params, xs, probe=probe, truncation=k, reverse=reverse)
        return jnp.sum(hs, axis=(0, 2))

    reach = np.abs(np.asarray(jax.jacrev(outputs)(jnp.zeros((10, 3, 5))))).sum(axis=(2, 3))  # [t, s]
    for t in range(10):
        grads = reach[t]
        done = (9 - t) if reverse else t  # steps the loop ran before t
        first = done - done % k  # the first step of t's window, in the loop's order
        in_window = [s for s in range(10) if first <= ((9 - s) if reverse else s) <= done]
        for s in range(10):
            if s in in_window:
                assert grads[s] > 0, (t, s)
            else:
                assert grads[s] == 0.0, (t, s)


def test_truncation_longer_than_the_sequence_is_refused():
    model = model_for("delayed_xor", "gru", 8)
    with pytest.raises(ValueError, match=r"gradient.truncation=301 is longer than the task's sequences \(seq_len=300\)"):
        TrainConfig(model=model, task="delayed_xor", gradient=Gradient(truncation=301))
    with pytest.raises(ValueError, match="truncation=9 is longer than the sequence"):
        unroll(cells.get("gru"), cells.get("gru").init(jax.random.key(0), 2, 3), jnp.zeros((1, 8, 2)), truncation=9)
    with pytest.raises(ValueError, match="truncation=4 stops the gradient inside the sequential loop"):
        unroll(cells.get("lru"), cells.get("lru").init(jax.random.key(0), 2, 4), jnp.zeros((1, 8, 2)), truncation=4,
               mode="parallel")


@pytest.fixture(autouse=True)
def _optax_promotion(standard_dtype_promotion):
    """The training tests run optax (see ``standard_dtype_promotion``)."""


def _config(cell="gru", hidden=8, **kw):
    """A short delayed-XOR run; ``rule``, ``truncation`` and ``stateful`` make its ``gradient``."""
    task, options = "delayed_xor", {"seq_len": 24, "delay": 3}
    kw["gradient"] = Gradient(**{k: kw.pop(k) for k in ("rule", "truncation", "stateful") if k in kw})
    kw.setdefault("batch_size", 8)
    return TrainConfig(model=model_for(task, cell, hidden), task=task, task_options=options, steps=6, eval_every=3,
                       optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)), **kw)


@pytest.mark.slow  # 7-15 s of compiling; the default run keeps its 10-minute budget
def test_trainer_truncation_at_the_length_and_one_window_are_bptt():
    key = jax.random.key(3)
    _, full = make_train(_config())(key)
    for kw in ({"truncation": 24}, {"truncation": 24, "stateful": True}):
        _, run = make_train(_config(**kw))(key)
        np.testing.assert_allclose(run.train["loss"], full.train["loss"], rtol=1e-6, err_msg=str(kw))


def test_model_run_window_by_window_equals_one_run():
    model = SequenceModel("lstm", (6, 5), output_size=2, readout="all")
    params = model.init(jax.random.key(0), 3)
    xs = jax.random.normal(jax.random.key(1), (2, 12, 3))
    carries, parts = None, []
    for start in range(0, 12, 4):
        out, carries = model.run(params, xs[:, start:start + 4], carries=carries)
        parts.append(out)
    np.testing.assert_allclose(jnp.concatenate(parts, axis=1), model.apply(params, xs), atol=1e-6)


def test_stateful_updates_once_per_window_and_carries_the_state():
    """Windows of 6 steps of a delay-3 XOR: the carry is what lets a window score its first
    steps, whose bits lie in the previous window; with it, one stream step equals four
    updates on the windows run one after another with the carry passed by hand."""
    cfg = _config(truncation=6, stateful=True)
    trainer = make_train(cfg)
    state = trainer.init(jax.random.key(4))
    batch = trainer.sample_batch(state)
    new_state, metrics = trainer.train_step(state, batch)
    # by hand: update after each window, the carry passed along without gradient
    model, task, manual = cfg.model, cfg.task_fn, state
    mask = task.step_mask(batch)
    carries = [[model.cell_fn.initial_carry(state.params["layers"][0]["fwd"], (8,))]]
    for start in range(0, 24, 6):
        window = slice(start, start + 6)

        def loss(params):
            outputs, out_carries = model.run(params, batch.inputs[:, window], carries=carries)
            return task.window_loss(outputs, batch.targets[:, window], mask[:, window]), out_carries

        (_, carries), grads = jax.value_and_grad(loss, has_aux=True)(manual.params)
        manual, _ = trainer.update(manual, manual.params, jnp.float32(0), grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), new_state.params, manual.params)
    assert int(new_state.step) == 1 and bool(metrics["finite"])


# --- forward-mode rules ------------------------------------------------------------------

SLOW = pytest.mark.slow
EXACT_CELLS = ["rnn", "lstm", "gru", "indrnn"] + [  # the LRU's exactness: test_lru_pairs_need_snap2...
    pytest.param(cell, marks=SLOW) for cell in ("lru", "exprnn", "mingru", "minlstm", "urnn", "scornn", "cornn", "lem",
                                                "antisymmetric")]


@pytest.mark.parametrize("cell", EXACT_CELLS)
def test_rtrl_equals_bptt_in_float64(cell):
    with jax.enable_x64(True):
        for readout, lengths in (("all", False), ("last", True)):
            model, params, batch = _problem(cell, readout, lengths, hidden=6 if cell != "urnn" else 8)
            np.testing.assert_allclose(_rule("rtrl", model, params, batch), _bptt(model, params, batch),
                                       rtol=1e-6, atol=1e-12, err_msg=f"{cell} {readout}")


@pytest.mark.parametrize("cell", ["indrnn", pytest.param("mingru", marks=SLOW), pytest.param("minlstm", marks=SLOW)])
def test_snap1_and_diagonal_are_exact_on_diagonal_recurrences(cell):
    with jax.enable_x64(True):
        model, params, batch = _problem(cell, lengths=True)
        exact = _bptt(model, params, batch)
        for rule in ("snap1", "diagonal"):
            np.testing.assert_allclose(_rule(rule, model, params, batch), exact, rtol=1e-6, atol=1e-12, err_msg=rule)


def test_lru_pairs_need_snap2_and_the_diagonal_rule_keeps_them():
    """The LRU's complex modes couple Re and Im: SnAp-1 misses the cross term, SnAp-2 and the
    diagonal rule (blocks of two units) are exact."""
    with jax.enable_x64(True):
        model, params, batch = _problem("lru")
        exact = _bptt(model, params, batch)
        for rule in ("snap2", "diagonal"):
            np.testing.assert_allclose(_rule(rule, model, params, batch), exact, rtol=1e-6, atol=1e-12)
        assert np.max(np.abs(_rule("snap1", model, params, batch) - exact)) > 1e-3


@pytest.mark.slow  # 7-15 s of compiling; the default run keeps its 10-minute budget
def test_snap1_is_biased_on_a_dense_recurrence():
    with jax.enable_x64(True):
        model, params, batch = _problem("lstm")
        gap = np.max(np.abs(_rule("snap1", model, params, batch) - _bptt(model, params, batch)))
        assert gap > 1e-4


@pytest.mark.parametrize("cell", ["rnn", pytest.param("gru", marks=SLOW)])
def test_uoro_is_unbiased(cell):
    """The mean of N draws is within its standard error of BPTT's gradient:
    E‖mean − g‖² = tr(Cov)/N, bounded here by 3 tr(Ĉov)/N. SnAp-1, deterministic and
    biased, fails the same bound."""
    with jax.enable_x64(True):
        model, params, batch = _problem(cell, hidden=4, steps=5)
        exact = _bptt(model, params, batch)
        draws = 4000
        keys = jax.random.split(jax.random.key(7), draws)
        samples = jax.lax.map(lambda k: _rule("uoro", model, params, batch, k), keys, batch_size=500)
        mean = jnp.mean(samples, axis=0)
        error = float(jnp.sum((mean - exact) ** 2))
        spread = float(jnp.sum(jnp.var(samples, axis=0))) / draws
        assert error < 3 * spread, (error, spread)
        assert spread > 0
        biased = float(jnp.sum((_rule("snap1", model, params, batch) - exact) ** 2))
        assert biased > 3 * spread


@pytest.mark.slow  # 7-15 s of compiling; the default run keeps its 10-minute budget
def test_stateful_rtrl_with_one_window_is_rtrl_and_bptt():
    key = jax.random.key(5)
    _, full = make_train(_config())(key)
    for kw in ({"rule": "rtrl"}, {"rule": "rtrl", "truncation": 24, "stateful": True}):
        _, run = make_train(_config(**kw))(key)
        np.testing.assert_allclose(run.train["loss"], full.train["loss"], rtol=1e-5, err_msg=str(kw))


@pytest.mark.slow  # 7-15 s of compiling; the default run keeps its 10-minute budget
def test_alignment_of_exact_and_random_rules():
    model, params, batch = _problem("gru")
    key = jax.random.key(0)
    exact = credit.alignment("rtrl", model, params, batch, _loss, key=key)
    assert float(exact.cosine) == pytest.approx(1.0, abs=1e-5) and float(exact.variance) < 1e-10
    full = credit.alignment("bptt", model, params, batch, _loss, key=key, truncation=7)
    assert float(full.cosine) == pytest.approx(1.0, abs=1e-5)
    short = credit.alignment("bptt", model, params, batch, _loss, key=key, truncation=1)
    assert float(short.cosine) < 0.999
    noisy = credit.alignment("uoro", model, params, batch, _loss, key=key, draws=8)
    assert float(noisy.variance) > 0 and float(noisy.cosine) < 0.999


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kw", "message"), [
    ({"rule": "rtrl", "cell": "lstm", "hidden": 512, "batch_size": 64},
     r"gradient.rule='rtrl' keeps a \[state, parameters\] influence matrix per sequence: 257.5 GiB for a batch of 64"),
    ({"rule": "diagonal", "cell": "lstm"}, r"gradient.rule='diagonal' is exact for diagonal recurrences .* 'lstm' cannot"),
    ({"rule": "uoro", "hidden": (8, 8)}, r"gradient.rule='uoro' carries the influence of one recurrent layer forwards"),
    ({"rule": "rtrl", "truncation": 6}, r"gradient.truncation=6 with gradient.rule='rtrl': .* set stateful=True"),
    ({"stateful": True}, r"gradient.stateful=True cuts each sequence into windows of gradient.truncation=k steps"),
    ({"truncation": 5, "stateful": True}, r"seq_len=24 .* truncation=5 steps: seq_len must be a multiple"),
    ({"rule": "sgd"}, r"gradient.rule='sgd' is not one of 'bptt'"),
])
def test_bad_credit_options_are_one_line_errors(kw, message):
    cell, hidden = kw.pop("cell", "gru"), kw.pop("hidden", 8)
    with pytest.raises(ValueError, match=message) as error:
        _config(cell, hidden, **kw)
    assert "\n" not in str(error.value)


def test_stateful_needs_a_per_step_task():
    model = model_for("adding", "gru", 8)
    with pytest.raises(ValueError, match="gradient.stateful=True scores every window, and task 'adding'"):
        TrainConfig(model=model, task="adding", task_options={"seq_len": 20},
                    gradient=Gradient(truncation=5, stateful=True))


def test_diagonal_rule_on_the_authors_hand_worked_lru():
    """Zucchet et al.'s own test (Online-learning-LR-dependencies, tests/test_rec.py,
    ``test_toy``): one complex mode with λ = 0.5, B = 2 + 2i, C = 2 + i, D = 0, γ = 1, inputs
    1, 2, 3, targets 1, loss ½ Σ (y − 1)². They work by hand: predictions 2, 5, 8.5;
    Σ δ_x e_λ = 53 + 159i, so ∂L/∂Re λ = 53 (∂L/∂ν_log = 53 · ∂λ/∂ν_log = −53 · ½ ln 2 here);
    ∂L/∂γ = 85.75; ∂L/∂B = 85.75 − 42.875i."""
    model = SequenceModel("lru", 2, output_size=None, readout="all")
    params = {"layers": [{"fwd": {
        "nu_log": jnp.log(jnp.log(jnp.array([2.0]))), "theta_log": jnp.array([-30.0]), "gamma_log": jnp.zeros(1),
        "w_ih": jnp.array([[2.0], [2.0], [0.0], [0.0]]),  # Re B, Im B, then D (two outputs)
        "c_re": jnp.array([[2.0], [0.0]]), "c_im": jnp.array([[1.0], [0.0]]),  # only output 0 is read
    }}]}
    batch = Batch(jnp.array([[[1.0], [2.0], [3.0]]]), None, None)

    def loss(outputs):
        return 0.5 * jnp.sum((outputs[..., 0] - 1.0) ** 2)

    np.testing.assert_allclose(model.apply(params, batch.inputs)[0, :, 0], [2.0, 5.0, 8.5], rtol=1e-6)
    online = credit.gradients(credit.Rule.DIAGONAL, model, params, batch, loss, key=jax.random.key(0))[2]
    bptt = jax.grad(lambda p: loss(model.apply(p, batch.inputs)))(params)
    for grads in (online, bptt):
        g = grads["layers"][0]["fwd"]
        np.testing.assert_allclose(g["nu_log"], [-53.0 * 0.5 * np.log(2.0)], rtol=1e-5)
        np.testing.assert_allclose(g["gamma_log"], [85.75], rtol=1e-5)
        np.testing.assert_allclose(g["w_ih"][:2, 0], [85.75, -42.875], rtol=1e-5)


def test_gradients_refuses_bptt_and_stacked_layers_in_one_line():
    model, params, batch = _problem("gru")
    with pytest.raises(ValueError, match="rule='bptt' runs backwards"):
        credit.gradients("bptt", model, params, batch, _loss, key=jax.random.key(0))
    two = SequenceModel("gru", (4, 4), output_size=2, readout="all")
    with pytest.raises(ValueError, match=r"rule='rtrl' carries the influence of one recurrent layer .* 2 layer"):
        credit.gradients("rtrl", two, two.init(jax.random.key(0), 3), batch, _loss, key=jax.random.key(0))
    with pytest.raises(ValueError, match="rule='sgd'"):
        credit.gradients("sgd", model, params, batch, _loss, key=jax.random.key(0))


def test_a_run_directory_from_before_gradient_resumes_exactly(tmp_path):
    """A config.json written while ``credit``, ``truncation``, ``stateful``, ``omega`` and
    ``flossing`` were fields of TrainConfig reads back in today's layout: the run resumes
    as ``TrainConfig(gradient=Gradient(...))`` and ends where an uninterrupted run does."""
    cfg = _config(truncation=6)
    full = run(cfg, seeds=1, run_dir=tmp_path / "full", progress=False, diagnose_at=())
    with pytest.raises(KeyboardInterrupt):
        run(cfg, seeds=1, run_dir=interrupt_after(3)(tmp_path / "old"), progress=False, diagnose_at=())
    path = tmp_path / "old" / "config.json"
    config = json.loads(path.read_text())
    gradient = config["train_config"].pop("gradient")
    config["train_config"].update(credit=gradient["rule"], truncation=gradient["truncation"],
                                  stateful=gradient["stateful"], omega=gradient["omega"], flossing=gradient["flossing"])
    path.write_text(json.dumps(config))
    assert RunDir(tmp_path / "old").read_config()["train_config"]["gradient"] == gradient
    resumed = run(cfg, seeds=1, run_dir=tmp_path / "old", progress=False, diagnose_at=())
    chex.assert_trees_all_equal(full.state.params, resumed.state.params)

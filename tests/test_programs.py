"""The compiled programs of a run (``training/programs.py``, ``runtime/compiler.py``): the
programs compiled for a fast compile, and the batches sampled ahead, give exactly the values
of the plain functions they replace."""

import chex
import jax
import numpy as np
import pytest

from rnn_jax import tasks
from rnn_jax.tasks import ArrayTask
from rnn_jax import fit
from rnn_jax.runtime import compiler
from rnn_jax.training import TrainConfig, make_train, model_for, programs
from rnn_jax.training.programs import Initialise, SampleBatches, TrainChunk, held_out

from .conftest import XLA_DEFAULTS, count_compilations

pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

ADDING = tasks.get("adding", seq_len=30)


def _trainer(task=ADDING, **kw):
    base = dict(model=model_for(task, "lstm", 16), task=task, steps=12, batch_size=8, eval_every=6)
    return make_train(TrainConfig(**{**base, **kw}))


def _array_task():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 7, 3)).astype(np.float32), rng.normal(size=(40, 1)).astype(np.float32)
    return ArrayTask(x[:30], y[:30], validation=(x[30:], y[30:]))


def test_run_once_programs_are_compiled_for_speed_on_cpu_only():
    assert compiler.options("cpu", runs_once=True) == dict(compiler.RUN_ONCE_OPTIONS)
    assert compiler.options("cpu") == {} and compiler.options("gpu", runs_once=True) == {}
    assert Initialise.runs_once and not TrainChunk.runs_once


@pytest.mark.parametrize("task", [ADDING, tasks.get("copy", delay=10), "arrays"], ids=["adding", "copy", "arrays"])
def test_the_held_out_set_sampled_once_equals_the_tasks_own(task):
    task = _array_task() if task == "arrays" else task
    chex.assert_trees_all_equal(held_out(task), jax.jit(task.eval_batch)())


def compiled(program, *xs):
    """``program(*xs)`` compiled as the runner compiles it for a user: its compile options over
    XLA's defaults (not the tests' fast compile, which may round a norm differently)."""
    options = {**XLA_DEFAULTS, **compiler.options(jax.default_backend(), program.runs_once)}
    return jax.jit(program, compiler_options=options)(*xs)


def test_the_initialisation_compiled_for_a_fast_compile_is_bit_identical(key):
    trainer = _trainer()
    hparams = trainer.default_hparams()
    fast = compiled(Initialise(trainer.for_programs()), np.uint32(3), hparams)
    plain = jax.jit(trainer.init, compiler_options=XLA_DEFAULTS)(jax.random.key(3), hparams)
    chex.assert_trees_all_equal(fast.params, plain.params)
    chex.assert_trees_all_equal(fast.opt_state, plain.opt_state)


@pytest.mark.parametrize("train_size", [None, pytest.param(50, marks=pytest.mark.slow)])  # 50: 8 s, slow
def test_batches_sampled_ahead_train_exactly_as_batches_sampled_inside(key, train_size):
    trainer = _trainer(train_size=train_size)
    state = trainer.init(key)
    inside = jax.jit(trainer.train_chunk, static_argnums=1, compiler_options=XLA_DEFAULTS)(state, 6)
    batches = compiled(SampleBatches.of(trainer, 6), state.key, state.step)
    ahead = compiled(TrainChunk(trainer.for_steps()), state, batches)
    chex.assert_trees_all_equal(jax.tree.map(np.asarray, inside[1]), jax.tree.map(np.asarray, ahead[1]))
    chex.assert_trees_all_equal(inside[0].params, ahead[0].params)


def test_a_chunk_trained_in_blocks_equals_one_block(monkeypatch):
    trainer = _trainer()
    per_step = SampleBatches.of(trainer, 1).bytes()
    assert programs.block_steps(trainer, 6) == 6
    whole_params, whole = fit(trainer.model, ADDING, trainer.cfg)
    monkeypatch.setattr(programs, "BATCHES_BYTES", 2 * per_step)  # two steps' batches at a time
    assert programs.block_steps(trainer, 6) == 2 and programs.block_steps(trainer, 6, members=3) == 1
    blocks_params, blocks = fit(trainer.model, ADDING, trainer.cfg)
    chex.assert_trees_all_equal(whole_params, blocks_params)
    np.testing.assert_array_equal(whole["train"]["loss"], blocks["train"]["loss"])


def test_runs_of_other_models_on_one_task_share_the_sampling_program():
    cfg = TrainConfig(steps=6, batch_size=8, eval_every=6)
    fit(model_for(ADDING, "gru", 8), ADDING, cfg)
    _, compiled_again = count_compilations(lambda: fit(model_for(ADDING, "gru", 12), ADDING, cfg))
    assert compiled_again == 3  # init, chunk, evaluate; neither the batches nor the held-out set

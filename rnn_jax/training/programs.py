"""The functions of one run that get compiled, as values.

Each is a frozen dataclass of its :class:`~rnn_jax.training.trainer.Trainer` (the run's
value-hashed identity) and its own settings.
:class:`~rnn_jax.runner.placement.MemberPrograms` (the runner's, over members) passes it to
module-level jitted functions as a static argument, so JAX's own cache shares the compiled
program between runs with equal identities and tells apart everything else. Every program
takes ``trainer.for_programs()``, so the learning rate and clip threshold (read from
``hparams`` and the optimiser state) are not part of it; the programs that never initialise
take ``trainer.for_steps()``, so runs that differ only in their initialisation share them.

Each program has a ``name`` (what the compile log, the benchmarks and the runner's watchdog
call it), ``runs_once`` (compiled for a fast compile rather than fast runs,
:mod:`~rnn_jax.runtime.compiler`) and ``shared``, how many of its trailing arguments are the same for every member of
a run: the held-out set, which :func:`held_out` samples once per task rather than inside
every evaluation (sampling it in the program made its XLA compile several times longer).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from rnn_jax.analysis import diagnostics
from rnn_jax.tasks.base import Task
from rnn_jax.runtime import compiler
from rnn_jax.training.trainer import Trainer, sample_batch
from rnn_jax.types import Batch


class Program:
    """What every program says of itself, with the common values: compiled for fast runs,
    no argument shared by the members."""

    name = "program"
    runs_once = False
    shared = 0


@dataclasses.dataclass(frozen=True)
class Initialise(Program):
    """``(seed, hparams) -> TrainState``."""

    trainer: Trainer
    name = "init"
    runs_once = True

    def __call__(self, seed, hparams):
        return self.trainer.init(jax.random.key(seed), hparams)


@dataclasses.dataclass(frozen=True)
class SampleBatches(Program):
    """``(key, step) -> batches``: the training batches of ``steps`` steps from ``step`` on,
    stacked (:func:`~rnn_jax.training.trainer.sample_batch`). Its identity is the task and
    the batch, not the model, so runs of every cell and size on one task share it, and the
    training program does not compile the sampling again (0.46 s of an LSTM chunk's 1.43 s)."""

    task: Task
    batch_size: int
    train_size: int | None
    steps: int
    name = "batches"

    @classmethod
    def of(cls, trainer: Trainer, steps: int) -> SampleBatches:
        return cls(trainer.task, trainer.cfg.batch_size, trainer.cfg.train_size, steps)

    def __call__(self, key, step):
        one = lambda s: sample_batch(self.task, self.batch_size, self.train_size, key, s)  # noqa: E731
        return jax.lax.map(one, step + jnp.arange(self.steps, dtype=jnp.int32))

    @functools.cache
    def bytes(self) -> int:
        """Bytes of one call's batches."""
        shapes = jax.eval_shape(self, jax.random.key(0), jnp.int32(0))
        return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(shapes))


@dataclasses.dataclass(frozen=True)
class TrainChunk(Program):
    """``(state, batches) -> (state, per-step metrics)``: one training step per batch."""

    trainer: Trainer
    name = "chunk"

    def __call__(self, state, batches: Batch):
        return self.trainer.train_on(state, batches)


@dataclasses.dataclass(frozen=True)
class Evaluate(Program):
    """``(params, held_out) -> held-out metrics``."""

    trainer: Trainer
    name = "evaluate"
    shared = 1

    def __call__(self, params, held_out: Batch):
        return self.trainer.evaluate(params, held_out)


@dataclasses.dataclass(frozen=True)
class Diagnose(Program):
    """``(params, held_out) -> diagnostics``: :func:`~rnn_jax.analysis.diagnostics.record` of
    ``what`` on the first ``batch`` held-out sequences (``jacobian_batch`` of them for the
    Jacobian norms and Lyapunov exponents)."""

    trainer: Trainer
    batch: int
    jacobian_batch: int
    what: tuple[str, ...] = diagnostics.DEFAULT
    name = "diagnose"
    shared = 1

    def __call__(self, params, held_out: Batch):
        held_out = jax.tree.map(lambda a: a[: self.batch], held_out)
        return diagnostics.record(self.trainer.model, params, held_out, self.trainer.task,
                                  jacobian_batch=self.jacobian_batch, what=self.what, rule=self.trainer.cfg.gradient.rule,
                                  truncation=self.trainer.cfg.gradient.truncation)


BATCHES_BYTES = 256 * 2**20
"""At most this many bytes of training batches are sampled ahead (:func:`block_steps`)."""


def block_steps(trainer: Trainer, steps: int, members: int = 1) -> int:
    """How many of a chunk's ``steps`` steps to sample ahead and train on per call: all of
    them, unless ``members`` members' batches of that many steps would pass
    :data:`BATCHES_BYTES`; then the largest divisor of ``steps`` that fits (at least 1)."""
    per_step = SampleBatches.of(trainer, 1).bytes() * members
    return max([d for d in range(1, steps + 1) if steps % d == 0 and d * per_step <= BATCHES_BYTES], default=1)


def train_chunk(sample: Callable, train: Callable, state, steps: int, block: int):
    """``steps`` training steps as ``steps // block`` calls of ``train(state, sample(state.key,
    state.step))``: the final state, and each call's metrics in a list."""
    metrics = []
    for _ in range(steps // block):
        state, m = train(state, sample(state.key, state.step))
        metrics.append(m)
    return state, metrics


def programs(trainer: Trainer, *, chunk_steps: int, diagnostics_batch: int, jacobian_batch: int, members: int = 1,
             recorded: tuple[str, ...] = diagnostics.DEFAULT):
    """The programs of a run: initialise, sample a block of training batches, train on it,
    evaluate, diagnose."""
    steps = trainer.for_steps()
    block = block_steps(trainer, chunk_steps, members)
    return (Initialise(trainer.for_programs()), SampleBatches.of(trainer, block), TrainChunk(steps), Evaluate(steps),
            Diagnose(steps, diagnostics_batch, jacobian_batch, recorded))


def held_out(task: Task) -> Batch:
    """``task.eval_batch()``, the task's fixed held-out set, sampled by one program per task
    (JAX's cache keeps it: equal tasks are equal values)."""
    return compiler.named_jit(_eval_batch, "held_out", jax.default_backend(), True, static_argnums=0)(task)


def _eval_batch(task: Task) -> Batch:
    return task.eval_batch()

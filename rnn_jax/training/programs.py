"""The functions of one run that get compiled, as values.

Each is a frozen dataclass of its :class:`~rnn_jax.training.trainer.Trainer` (the run's
value-hashed identity) and its own settings. :func:`compiled` (for ``fit``) and
:class:`~rnn_jax.runner.placement.MemberPrograms` (for the runner, over members) pass it to
module-level jitted functions as a static argument, so JAX's own cache shares the compiled
program between runs with equal identities and tells apart everything else. Every program
takes ``trainer.for_programs()``, so the learning rate and clip threshold (read from
``hparams`` and the optimiser state) are not part of it; the programs that never initialise
take ``trainer.for_steps()``, so runs that differ only in their initialisation share them.
"""

from __future__ import annotations

import dataclasses
import functools

import jax

from rnn_jax.analysis import diagnostics
from rnn_jax.training.trainer import Trainer


@dataclasses.dataclass(frozen=True)
class Initialise:
    """``(seed, hparams) -> TrainState``."""

    trainer: Trainer

    def __call__(self, seed, hparams):
        return self.trainer.init(jax.random.key(seed), hparams)


@dataclasses.dataclass(frozen=True)
class TrainChunk:
    """``state -> (state, per-step metrics)``: ``steps`` training steps."""

    trainer: Trainer
    steps: int

    def __call__(self, state):
        return self.trainer.train_chunk(state, self.steps)


@dataclasses.dataclass(frozen=True)
class Evaluate:
    """``params -> held-out metrics``."""

    trainer: Trainer

    def __call__(self, params):
        return self.trainer.evaluate(params)


@dataclasses.dataclass(frozen=True)
class Diagnose:
    """``params -> diagnostics``: :func:`~rnn_jax.analysis.diagnostics.record` on the first
    ``batch`` held-out sequences (``jacobian_batch`` of them for the Jacobian norms)."""

    trainer: Trainer
    batch: int
    jacobian_batch: int

    def __call__(self, params):
        task = self.trainer.task
        held_out = jax.tree.map(lambda a: a[: self.batch], task.eval_batch())
        return diagnostics.record(self.trainer.model, params, held_out, task, jacobian_batch=self.jacobian_batch)


def programs(trainer: Trainer, *, chunk_steps: int, diagnostics_batch: int, jacobian_batch: int):
    """The four programs of a run: initialise, train a chunk, evaluate, diagnose."""
    steps = trainer.for_steps()
    return (Initialise(trainer.for_programs()), TrainChunk(steps, chunk_steps), Evaluate(steps),
            Diagnose(steps, diagnostics_batch, jacobian_batch))


@functools.partial(jax.jit, static_argnums=0)
def compiled(program, *xs):
    """``program(*xs)``, compiled once per program value (and input shapes)."""
    return program(*xs)

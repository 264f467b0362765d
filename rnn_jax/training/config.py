"""``TrainConfig``: what one training run is, checked when made; ``model_for`` a task."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import optax

from rnn_jax import _checks, tasks
from rnn_jax.cells.base import Cell
from rnn_jax.credit.rules import Rule
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import Task
from rnn_jax import optimizer as optimizers
from rnn_jax.training.gradient import Gradient
from rnn_jax.optimizer import Optax
from rnn_jax.types import Readout


def model_for(task: Task | str, cell: str | Cell = "lstm", hidden_size: int | tuple[int, ...] = 128, **options) -> SequenceModel:
    """A :class:`SequenceModel` whose head and readout fit ``task`` (``cell``: a registered
    name or a :class:`~rnn_jax.cells.Cell` object)."""
    task = tasks.get(task)
    options.setdefault("readout", Readout.ALL if task.readout.per_step else Readout.LAST)
    if Readout(options["readout"]) is Readout.FLAT:
        options.setdefault("seq_len", task.seq_len)
    return SequenceModel(cell, hidden_size, output_size=task.output_size, **options)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        model: the :class:`SequenceModel` (its ``output_size`` must equal the task's, and
            ``readout`` must be ``"all"`` exactly when the task's is; see :func:`model_for`).
        task: a registered task name or a :class:`~rnn_jax.tasks.Task`.
        task_options: options for ``tasks.get(task, **task_options)``.
        optimizer: optax's, spelt ``Optax(factory, **kwargs)``
            (:mod:`rnn_jax.optimizer`): ``Optax("adamw", learning_rate=3e-3)``, or a
            chain with clipping and a schedule; its float arguments are injected, so a sweep
            of them is one program. An ``optax.GradientTransformation`` built in code trains
            too, but a run directory cannot name it, so its runs do not resume. Default: Adam
            1e-3 after global-norm clipping at 1.
        steps: training steps (>= 1).
        batch_size: sequences per step (>= 1).
        eval_every: steps between evaluations on the held-out set (>= 1); there is always
            one at step 0 and one at the end.
        train_size: ``None`` (default): every step draws fresh sequences. A number ``N``:
            training draws (with replacement) from a fixed set of ``N`` sequences, the same
            for every seed (:meth:`~rnn_jax.tasks.Task.training_sequence`), as Arjovsky et
            al. 2016 trained on 1e5 fixed sequences.
        gradient: how the gradient is computed (:class:`~rnn_jax.training.gradient.Gradient`):
            the credit rule (BPTT by default, or a forward rule), truncation and streams,
            Pascanu et al.'s Ω and gradient flossing. A rule's name is that rule:
            ``gradient="rtrl"``.
    """

    model: SequenceModel = SequenceModel("lstm", 128)
    task: str | Task = "adding"
    task_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()
    optimizer: Optax | optax.GradientTransformation = optimizers.DEFAULT
    steps: int = 1000
    batch_size: int = 32
    eval_every: int = 100
    train_size: int | None = None
    gradient: Gradient | Rule | str = Gradient()

    def __post_init__(self):
        if self.train_size is not None:
            _checks.positive_int(self.train_size, "train_size")
        object.__setattr__(self, "gradient", Gradient.of(self.gradient))
        if isinstance(self.task_options, Mapping):
            object.__setattr__(self, "task_options", tuple(sorted(self.task_options.items())))
        if not isinstance(self.model, SequenceModel):
            raise TypeError(f"model must be a SequenceModel, got {type(self.model).__name__}")
        optimizers.check(self.optimizer)
        _checks.positive_int(self.steps, "steps")
        _checks.positive_int(self.batch_size, "batch_size")
        _checks.positive_int(self.eval_every, "eval_every")
        task = self.task_fn
        if self.model.output_size != task.output_size:
            raise ValueError(
                f"model.output_size={self.model.output_size} but task {task.name!r} has output_size="
                f"{task.output_size}; build the model with rnn_jax.training.trainer.model_for(task, ...)"
            )
        if self.model.readout.per_step != task.readout.per_step:
            raise ValueError(
                f"model.readout={self.model.readout.value!r} does not fit task {task.name!r} "
                f"(readout {task.readout.value!r}): one output per "
                f"{'step' if task.readout.per_step else 'sequence'} is expected"
            )
        self.gradient.check(self.model, task, self.batch_size)

    @functools.cached_property
    def task_fn(self) -> Task:
        """The task instance (made once per config)."""
        if isinstance(self.task, Task):
            if self.task_options:
                raise ValueError("task_options cannot be used with a Task instance")
            return self.task
        return tasks.get(self.task, **dict(self.task_options))

    @property
    def eval_steps(self) -> np.ndarray:
        """The steps at which the held-out set is evaluated: 0, eval_every, ..., steps."""
        points = list(range(0, self.steps, self.eval_every)) + [self.steps]
        return np.asarray(points)

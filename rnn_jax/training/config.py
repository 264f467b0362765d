"""``TrainConfig``: what one training run is, checked when made; ``model_for`` a task."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import optax

from rnn_jax import _checks, credit, tasks
from rnn_jax.cells.base import Cell
from rnn_jax.cells.carry_vector import CarryVector
from rnn_jax.credit.rules import Rule
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import Task
from rnn_jax import optimizer as optimizers
from rnn_jax.training import regularizers
from rnn_jax.training.flossing import Flossing
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
        omega: α of Pascanu et al. 2013's regulariser Ω (:mod:`rnn_jax.training.regularizers`):
            ``α ∇Ω`` is added to the gradient before clipping (0: off; they used 2). For
            one-layer, unidirectional rnn / irnn models.
        flossing: gradient flossing (Engelken 2023, :mod:`rnn_jax.training.flossing`): the
            first layer's largest Lyapunov exponents pushed towards 0 before training and in
            episodes during it (``None``: off).
        credit: the gradient rule (:class:`rnn_jax.credit.Rule`): ``"bptt"`` (default),
            ``"rtrl"``, ``"uoro"``, ``"snap1"``, ``"snap2"`` or ``"diagonal"``. The forward-mode
            rules train one unidirectional layer.
        truncation: ``k``: truncated BPTT, the gradient through the carry stops every ``k``
            steps (at most the task's ``seq_len``). With ``stateful``, the window length.
        stateful: each training sequence is a stream cut into windows of ``truncation``
            steps, with one optimiser update per window and the carry (and a forward rule's
            influence trace) passed from window to window, as Keras's ``stateful=True`` and
            online learning do. Per-step tasks whose ``seq_len`` is a multiple of ``truncation``.
    """

    model: SequenceModel = SequenceModel("lstm", 128)
    task: str | Task = "adding"
    task_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()
    optimizer: Optax | optax.GradientTransformation = optimizers.DEFAULT
    steps: int = 1000
    batch_size: int = 32
    eval_every: int = 100
    train_size: int | None = None
    omega: float = 0.0
    flossing: Flossing | None = None
    credit: Rule = Rule.BPTT
    truncation: int | None = None
    stateful: bool = False

    def __post_init__(self):
        if self.train_size is not None:
            _checks.positive_int(self.train_size, "train_size")
        _checks.number(self.omega, "omega", low=0.0)
        if self.omega and _checks.choice(Rule, self.credit, "credit").forward:
            raise ValueError(f"omega={self.omega!r} is added to BPTT's gradient; credit={self.credit!r} is not bptt")
        if self.omega and isinstance(self.model, SequenceModel) and (
                self.model.num_layers != 1 or self.model.bidirectional or not regularizers.supports(self.model.cell_fn)):
            raise ValueError(f"omega={self.omega!r}: Pascanu et al.'s regulariser is defined here for one-layer, "
                             f"unidirectional rnn or irnn models; got {self.model.num_layers} layer(s) of "
                             f"{self.model.cell_fn.name!r}{', bidirectional' if self.model.bidirectional else ''}")
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
        if self.flossing is not None:
            self._check_flossing(task)
        self._check_credit(task)

    def _check_credit(self, task: Task) -> None:
        rule = credit.check(self.credit, self.model, batch_size=self.batch_size, input_size=task.input_size)
        object.__setattr__(self, "credit", rule)
        if not isinstance(self.stateful, bool):
            raise TypeError(f"stateful={self.stateful!r} must be a bool")
        if self.truncation is None:
            if self.stateful:
                raise ValueError("stateful=True cuts each sequence into windows of truncation=k steps: give truncation")
            return
        k = _checks.positive_int(self.truncation, "truncation")
        if k > task.seq_len:
            raise ValueError(f"truncation={k} is longer than the task's sequences (seq_len={task.seq_len}); "
                             f"it must be at most {task.seq_len}")
        model = self.model
        model.loop_options(truncation=k)  # refuses a loop that cannot truncate
        if rule.forward and not self.stateful:
            raise ValueError(f"truncation={k} with credit={rule.value!r}: a forward rule carries credit across any "
                             f"window; set stateful=True to update every {k} steps, or use credit='bptt'")
        if self.omega:
            raise ValueError(f"omega={self.omega!r} needs the full backward pass; it cannot be used with truncation")
        if self.stateful:
            if not task.readout.per_step:
                raise ValueError(f"stateful=True scores every window, and task {task.name!r} scores only the end of "
                                 f"each sequence (readout {task.readout.value!r}): use a per-step task")
            if task.seq_len % k:
                raise ValueError(f"stateful=True cuts sequences of seq_len={task.seq_len} into windows of "
                                 f"truncation={k} steps: seq_len must be a multiple of truncation")
            if model.bidirectional:
                raise ValueError("stateful=True runs each stream forwards once; the model is bidirectional")
            if self.flossing is not None:
                raise ValueError("stateful=True cannot be combined with flossing")
            if jax.eval_shape(lambda key: task.sample(key, 1), jax.random.key(0)).lengths is not None:
                raise ValueError(f"stateful=True needs sequences of one length; task {task.name!r} pads them")

    def _check_flossing(self, task: Task) -> None:
        if not isinstance(self.flossing, Flossing):
            raise TypeError(f"flossing must be a Flossing or None, got {type(self.flossing).__name__}")
        if self.flossing.length > task.seq_len:
            raise ValueError(f"flossing.length={self.flossing.length} exceeds the task's seq_len={task.seq_len}")
        cell = self.model.cell_fn
        params = jax.eval_shape(lambda k: cell.init(k, task.input_size, self.model.layer_sizes[0]), jax.random.key(0))
        size = CarryVector.state_size(cell, params)
        if self.flossing.exponents > size:
            raise ValueError(f"flossing.exponents={self.flossing.exponents} exceeds the first layer's state size "
                             f"{size} ({cell.name!r}, hidden {self.model.layer_sizes[0]})")

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

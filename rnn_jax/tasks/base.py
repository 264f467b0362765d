"""The ``Task`` contract, the losses tasks share, and the task registry.

A task is a frozen description with pure methods that run inside ``jit``::

    batch = task.sample(key, batch_size)      # Batch(inputs [b, t, i], targets, lengths)
    loss = task.loss(outputs, batch)          # scalar; outputs from a SequenceModel
    metrics = task.metrics(outputs, batch)    # dict: "loss", "skill", the task's own measure
    task.eval_batch()                         # the fixed held-out set (from a fixed key)
    task.baseline_loss                        # the trivial memoryless predictor's loss

and sizes ``input_size``, ``output_size``, ``seq_len`` plus ``readout`` (``"last"``: one output
per sequence, ``"all"``: one per step). ``skill = 1 - loss / baseline_loss`` is reported by
every task: 0 at the trivial baseline, 1 when solved exactly.
"""

from __future__ import annotations

import abc
import enum
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax

from rnn_jax import _checks
from rnn_jax.registry import Registry
from rnn_jax.types import Batch, Readout
from rnn_jax.unroll.masks import step_mask


class LossKind(enum.StrEnum):
    MSE = "mse"  # regression, outputs are predictions
    BCE = "bce"  # binary targets in [0, 1], outputs are logits (sigmoid inside the loss)
    CE = "ce"  # integer class labels, outputs are logits over classes


def masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Mean of ``values[b, ...]`` over entries where ``mask[b, t]`` (broadcast over the rest); 0 when none is."""
    if mask is None:
        return jnp.mean(values)
    mask = mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim))
    weights = jnp.broadcast_to(mask, values.shape).astype(values.dtype)
    return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def pointwise_loss(kind: LossKind, outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """The loss of every output entry (not reduced)."""
    match kind:
        case LossKind.MSE:
            return (outputs - targets) ** 2
        case LossKind.BCE:
            return optax.sigmoid_binary_cross_entropy(outputs, targets.astype(outputs.dtype))
        case LossKind.CE:
            return optax.softmax_cross_entropy_with_integer_labels(outputs, targets)


def predictions_correct(kind: LossKind, outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """Whether each prediction is right: the class (ce), the side of 0.5 (bce)."""
    match kind:
        case LossKind.BCE:
            return (outputs > 0) == (targets > 0.5)
        case LossKind.CE:
            return jnp.argmax(outputs, axis=-1) == targets
        case LossKind.MSE:
            raise ValueError("accuracy is not defined for mse; tasks define their own tolerance")


def binary_entropy(p: float) -> float:
    """Loss of always predicting probability ``p`` for labels that are 1 with rate ``p``."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


class Task(abc.ABC):
    """Base class of every task. Subclasses are frozen dataclasses (or immutable classes).

    Class attributes every subclass sets: ``name``, ``readout``, ``loss_kind``, and
    ``success_metric`` (the key in :meth:`metrics` that says how well the task is solved).
    """

    name: ClassVar[str] = "task"
    readout: ClassVar[Readout] = Readout.LAST
    loss_kind: ClassVar[LossKind] = LossKind.MSE
    success_metric: ClassVar[str] = "skill"
    eval_seed: ClassVar[int] = 20_160_101  # fixed key of the held-out set of synthetic tasks
    train_set_seed: ClassVar[int] = 20_160_102  # fixed key of a fixed training set (TrainConfig.train_size)

    @property
    @abc.abstractmethod
    def input_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def output_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def seq_len(self) -> int:
        """The (maximum) number of time steps of a batch."""

    @property
    @abc.abstractmethod
    def baseline_loss(self) -> float:
        """The loss of the trivial memoryless predictor, as documented by each task."""

    @abc.abstractmethod
    def sample(self, key, batch_size: int) -> Batch:
        """A batch drawn with ``key``; deterministic in the key and safe inside ``jit``."""

    def eval_batch(self) -> Batch:
        """The fixed held-out set: ``eval_size`` sequences from a fixed key."""
        return self.sample(jax.random.key(self.eval_seed), self.eval_size)

    def training_sequences(self, indices: jax.Array) -> Batch:
        """Sequences ``indices`` (``[b]`` ints) of the task's fixed training set: sequence
        ``i`` is ``sample(fold_in(key(train_set_seed), i), 1)``, so a set of any size costs
        no memory and is the same for every run."""
        base = jax.random.key(self.train_set_seed)
        one = lambda i: self.sample(jax.random.fold_in(base, i), 1)  # noqa: E731
        return jax.tree.map(lambda a: a[:, 0], jax.vmap(one)(indices))

    def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """Mean loss over sequences (and valid steps when ``readout`` is ``"all"``)."""
        return masked_mean(pointwise_loss(self.loss_kind, outputs, batch.targets), self.step_mask(batch))

    def window_loss(self, outputs: jax.Array, targets: jax.Array, mask: jax.Array | None) -> jax.Array:
        """The loss of one window of a per-step task's sequences (``stateful`` training, a
        stream cut into windows): the pointwise loss averaged over the window's scored steps
        (``mask``: the whole sequence's :meth:`step_mask` cut to the window), 0 when none is."""
        return masked_mean(pointwise_loss(self.loss_kind, outputs, targets), mask)

    def step_mask(self, batch: Batch) -> jax.Array | None:
        """``[b, t]`` valid steps when there is a target per step and lengths vary, else ``None``."""
        return step_mask(batch.lengths, batch.inputs.shape[1]) if self.readout.per_step else None

    def metrics(self, outputs: jax.Array, batch: Batch) -> dict[str, jax.Array]:
        """``loss``, ``skill`` and the task's own measures (``accuracy`` for most tasks)."""
        loss = self.loss(outputs, batch)
        result = {"loss": loss, "skill": 1.0 - loss / self.baseline_loss}
        result.update(self.extra_metrics(outputs, batch))
        return result

    def extra_metrics(self, outputs: jax.Array, batch: Batch) -> dict[str, jax.Array]:
        """Task-specific measures; the default is classification accuracy for bce / ce."""
        if self.loss_kind is LossKind.MSE:
            return {}
        correct = predictions_correct(self.loss_kind, outputs, batch.targets)
        return {"accuracy": masked_mean(correct.astype(jnp.float32), self.step_mask(batch))}

    SIZES: ClassVar[tuple[str, ...]] = ("seq_len", "delay", "hidden", "eval_size")
    """Fields that, where a task has them, mean the same in every task and must be positive ints."""

    def __post_init__(self):
        """Checks the :attr:`SIZES` the task has; a one-line ``ValueError`` names a bad one.
        Subclasses with checks of their own call it first."""
        fields = getattr(self, "__dataclass_fields__", {})
        for name in self.SIZES:
            if name in fields:
                _checks.positive_int(getattr(self, name), name)

    def check_batch_size(self, batch_size: Any) -> int:
        """``batch_size`` as a positive int; a one-line ``ValueError`` otherwise (tasks with a fixed set narrow it)."""
        return _checks.positive_int(batch_size, "batch_size")


class BitTask(Task):
    """A task whose targets are bits, read with a binary cross-entropy on one logit (per
    sequence or per step): ``accuracy`` says how well it is solved, and the memoryless
    baseline predicts 1/2, at loss ``ln 2``. One input channel unless the task says otherwise."""

    loss_kind = LossKind.BCE
    success_metric = "accuracy"
    input_size = 1
    output_size = 1
    baseline_loss = math.log(2.0)


# --- registry ----------------------------------------------------------------------------

REGISTRY: Registry[Task] = Registry("task", Task)
register = REGISTRY.register
available = REGISTRY.available


def get(name: str | Task, **options: Any) -> Task:
    """The task registered as ``name``, made with ``options`` (a :class:`Task` is returned as is)."""
    return REGISTRY.get(name, **options)

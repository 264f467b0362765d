"""``ArrayTask``: train on your own arrays, with a held-out split.

    task = ArrayTask(x, y, loss="bce", validation_split=0.2)   # x [n, t, i], y [n] in {0, 1}
    params, history = fit(model_for(task, "lstm", 50), task, TrainConfig(steps=500))

Targets and what the task reads (``readout``) follow from ``loss`` and ``y``'s shape:

======  =====================  ==============================  ===========
loss    y                      outputs                         readout
======  =====================  ==============================  ===========
mse     [n] or [n, o]          predictions [b, o]              last
mse     [n, t, o]              predictions [b, t, o]           all
bce     [n] or [n, 1] in 0..1  one logit [b, 1]                last
bce     [n, t]                 one logit per step [b, t, 1]    all
ce      [n] int labels         logits [b, classes]             last
ce      [n, t] int labels      logits [b, t, classes]          all
======  =====================  ==============================  ===========

Batches are drawn with replacement from the training arrays (device arrays indexed by the
key); the held-out set is ``validation`` or a fixed ``validation_split`` of the data (or the
training set when neither is given). Baselines use training-set statistics: the variance of
``y`` (mse), the entropy of the positive rate (bce) or of the class prior (ce).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import _checks
from rnn_jax.tasks.base import LossKind, Task, binary_entropy
from rnn_jax.types import Batch, Readout


def _as_inputs(x: Any, name: str) -> np.ndarray:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    _checks.float_array(x, name)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:  # [n, t]: one feature per step
        x = x[..., None]
    if x.ndim != 3:
        raise ValueError(f"{name} must be [n, t, i] (or [n, t]), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); expected at least one sequence and one step")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(f"{name} contains {bad} non-finite values (NaN or Inf); clean or impute them first")
    return x


def _digest(options: tuple, arrays: tuple) -> str:
    """sha256 of ``options`` and of each array's dtype, shape and bytes."""
    h = hashlib.sha256(repr(options).encode())
    for a in arrays:
        a = None if a is None else np.ascontiguousarray(a)
        h.update(b"none" if a is None else f"{a.dtype}{a.shape}".encode() + a.tobytes())
    return h.hexdigest()


class ArrayTask(Task):
    """A task made of user-supplied arrays.

    Args:
        x: ``[n, t, i]`` (or ``[n, t]``) float inputs, batch-major.
        y: targets, see the module table.
        lengths: optional ``[n]`` ints in ``[1, t]`` for padded sequences.
        loss: ``"mse"`` (default), ``"bce"`` or ``"ce"``.
        validation: optional held-out ``(x, y)`` or ``(x, y, lengths)``.
        validation_split: fraction of ``(x, y)`` held out (a fixed permutation from ``seed``)
            when ``validation`` is not given.
        num_classes: for ``ce``; default ``max(y) + 1``.
        seed: the permutation used by ``validation_split``.
        name: shown in configs and figures.
    """

    success_metric = "skill"

    def __init__(
        self,
        x: Any,
        y: Any,
        lengths: Any = None,
        *,
        loss: str | LossKind = LossKind.MSE,
        validation: tuple | None = None,
        validation_split: float = 0.0,
        num_classes: int | None = None,
        seed: int = 0,
        name: str = "arrays",
    ):
        self.loss_kind = _checks.choice(LossKind, loss, "loss")
        self.name = name
        _checks.number(validation_split, "validation_split", low=0.0, high=1.0, high_open=True)
        x = _as_inputs(x, "x")
        y, readout = self._targets(y, x, "y", num_classes)
        lengths = self._lengths(lengths, x, "lengths")
        self.readout = readout
        if self.loss_kind is LossKind.CE:
            self.num_classes = int(num_classes if num_classes is not None else y.max() + 1)
            if num_classes is not None:
                _checks.positive_int(num_classes, "num_classes")
        if validation is not None:
            if validation_split:
                raise ValueError("give either validation=(x, y[, lengths]) or validation_split, not both")
            if not isinstance(validation, (tuple, list)) or len(validation) not in (2, 3):
                raise TypeError("validation must be a tuple (x, y) or (x, y, lengths)")
            vx = _as_inputs(validation[0], "validation x")
            if vx.shape[1:] != x.shape[1:]:
                raise ValueError(f"validation x has shape {vx.shape}; expected [m, {x.shape[1]}, {x.shape[2]}] like x")
            vy, _ = self._targets(validation[1], vx, "validation y", self.__dict__.get("num_classes"))
            vl = self._lengths(validation[2] if len(validation) == 3 else None, vx, "validation lengths")
            train, held = (x, y, lengths), (vx, vy, vl)
        elif validation_split:
            n_val = int(round(validation_split * x.shape[0]))
            if n_val < 1 or n_val >= x.shape[0]:
                raise ValueError(
                    f"validation_split={validation_split} leaves {n_val} of {x.shape[0]} sequences for validation; "
                    "expected at least one in each part"
                )
            order = np.random.default_rng(seed).permutation(x.shape[0])
            pick = lambda idx: (x[idx], y[idx], None if lengths is None else lengths[idx])  # noqa: E731
            held, train = pick(order[:n_val]), pick(order[n_val:])
        else:
            train = held = (x, y, lengths)
        self._train = tuple(None if a is None else jnp.asarray(a) for a in train)
        self._held = tuple(None if a is None else jnp.asarray(a) for a in held)
        self._baseline = self._trivial_loss(train[1], train[2])
        self._digest = _digest((self.name, self.loss_kind.value, self.readout.value, self.__dict__.get("num_classes")),
                               (*train, *held))

    def __eq__(self, other: object) -> bool:
        """Equal when built from the same arrays and options (a digest of their bytes), so
        runs on equal data share their compiled programs."""
        return type(other) is type(self) and other._digest == self._digest

    def __hash__(self) -> int:
        return hash(self._digest)

    # --- construction helpers ---------------------------------------------------------------

    def _targets(self, y: Any, x: np.ndarray, name: str, num_classes: int | None) -> tuple[np.ndarray, Readout]:
        y = np.asarray(y)
        n, t = x.shape[:2]
        if y.shape[:1] != (n,):
            raise ValueError(f"{name} has shape {y.shape}; expected {n} targets along its first axis, one per sequence")
        if self.loss_kind is LossKind.CE:
            if not np.issubdtype(y.dtype, np.integer):
                raise TypeError(f"{name} must hold integer class labels for loss='ce', got dtype {y.dtype}")
            if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] != t):
                raise ValueError(f"{name} has shape {y.shape}; for loss='ce' expected [n] or [n, t={t}] labels")
            top = num_classes if num_classes is not None else None
            if y.min() < 0 or (top is not None and y.max() >= top):
                raise ValueError(f"{name} labels must lie in [0, {top if top else 'num_classes'}), got [{y.min()}, {y.max()}]")
            return y.astype(np.int32), Readout.LAST if y.ndim == 1 else Readout.ALL
        if not np.issubdtype(y.dtype, np.number):
            raise TypeError(f"{name} must be numeric, got dtype {y.dtype}")
        y = y.astype(np.float32)
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains non-finite values (NaN or Inf)")
        if self.loss_kind is LossKind.BCE:
            if np.any((y < 0) | (y > 1)):
                raise ValueError(f"{name} must lie in [0, 1] for loss='bce', got [{y.min()}, {y.max()}]")
            if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
                return y.reshape(n, 1), Readout.LAST
            if y.ndim == 2 and y.shape[1] == t:
                return y[..., None], Readout.ALL
            raise ValueError(f"{name} has shape {y.shape}; for loss='bce' expected [n], [n, 1] or [n, t={t}]")
        if y.ndim == 1:
            return y[:, None], Readout.LAST
        if y.ndim == 2:
            return y, Readout.LAST
        if y.ndim == 3 and y.shape[1] == t:
            return y, Readout.ALL
        raise ValueError(f"{name} has shape {y.shape}; for loss='mse' expected [n], [n, o] or [n, t={t}, o]")

    @staticmethod
    def _lengths(lengths: Any, x: np.ndarray, name: str) -> np.ndarray | None:
        if lengths is None:
            return None
        lengths = np.asarray(lengths)
        _checks.lengths_array(lengths, x.shape[:1], x.shape[1], name)
        return lengths.astype(np.int32)

    def _trivial_loss(self, y: np.ndarray, lengths: np.ndarray | None) -> float:
        if self.readout.per_step and lengths is not None:
            valid = np.arange(y.shape[1])[None, :] < lengths[:, None]
            y = y[valid]  # the valid steps only, flattened
        match self.loss_kind:
            case LossKind.MSE:
                flat = y.reshape(-1, y.shape[-1]) if y.ndim > 1 else y[:, None]
                value = float(np.mean((flat - flat.mean(axis=0)) ** 2))
            case LossKind.BCE:
                value = binary_entropy(float(np.mean(y)))
            case LossKind.CE:
                prior = np.bincount(y.reshape(-1), minlength=self.num_classes) / y.size
                value = -sum(p * math.log(p) for p in prior if p > 0)
        # A constant target makes the trivial loss 0; keep skill finite.
        return max(value, 1e-12)

    # --- the Task contract ---------------------------------------------------------------------

    @property
    def input_size(self) -> int:
        return int(self._train[0].shape[-1])

    @property
    def output_size(self) -> int:
        if self.loss_kind is LossKind.CE:
            return self.num_classes
        return int(self._train[1].shape[-1])

    @property
    def seq_len(self) -> int:
        return int(self._train[0].shape[1])

    @property
    def num_train(self) -> int:
        return int(self._train[0].shape[0])

    @property
    def eval_size(self) -> int:
        return int(self._held[0].shape[0])

    @property
    def baseline_loss(self) -> float:
        return self._baseline

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        index = jax.random.randint(key, (batch_size,), 0, self.num_train)
        x, y, lengths = self._train
        return Batch(x[index], y[index], None if lengths is None else lengths[index])

    def eval_batch(self) -> Batch:
        return Batch(*self._held)

    def __repr__(self) -> str:
        return (
            f"ArrayTask(name={self.name!r}, loss={self.loss_kind.value!r}, train={self.num_train}, "
            f"eval={self.eval_size}, seq_len={self.seq_len}, input_size={self.input_size}, "
            f"output_size={self.output_size}, readout={self.readout.value!r})"
        )

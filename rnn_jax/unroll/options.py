"""How :func:`rnn_jax.unroll` runs a cell over time: the loop options, and the one resolver
that turns their ``"auto"`` values into concrete choices.

The rules behind ``"auto"`` were measured by ``benchmarks.parallel_scan`` and
``benchmarks.weight_gradients``; the numbers are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import dataclasses
import enum

import jax

from rnn_jax import _checks
from rnn_jax.cells.base import Cell
from rnn_jax.types import CPU
from rnn_jax.unroll.newton import Newton


class Mode(enum.StrEnum):
    """How the recurrence runs over time."""

    AUTO = "auto"  # see ``choose_mode``
    SEQUENTIAL = "sequential"  # jax.lax.scan, one step after another
    PARALLEL = "parallel"  # jax.lax.associative_scan; cells with a LinearRecurrence only
    NEWTON = "newton"  # Newton's method on the whole trajectory (DEER); any cell; see unroll/newton.py


class WeightGradients(enum.StrEnum):
    """How the sequential loop's backward pass forms the weights' gradients."""

    AUTO = "auto"  # see ``choose_weight_gradients``
    PER_STEP = "per_step"  # autodiff of the scan: accumulated in every backward step
    ONE_MATMUL = "one_matmul"  # custom VJP: one matmul over all steps after the backward loop


PARALLEL_FROM_STEPS = 256
"""On an accelerator, the shortest sequence for which ``Mode.AUTO`` picks the parallel scan."""
ONE_MATMUL_FROM_HIDDEN = 64
"""``WeightGradients.AUTO`` picks ``one_matmul`` on a CPU from this hidden size on."""
PER_STEP_FROM_BATCH = 128
"""With ``PER_STEP_UP_TO_HIDDEN``: gated cells keep ``per_step`` on a CPU from this batch size."""
PER_STEP_UP_TO_HIDDEN = 128
"""With ``PER_STEP_FROM_BATCH``: gated cells keep ``per_step`` on a CPU up to this hidden size."""


@dataclasses.dataclass(frozen=True)
class Options:
    """The loop options of :func:`rnn_jax.unroll`, checked when made; a
    :class:`~rnn_jax.model.SequenceModel` holds one as its ``loop``.

    Attributes:
        unroll: steps per loop iteration of the scan (``True``: fully unrolled).
        remat: rematerialise in the backward pass: the time axis is cut into segments under
            ``jax.checkpoint`` and only the carries at segment boundaries are kept. ``True``:
            segments of ``round(sqrt(t))`` steps; an int ``k``: segments of ``k`` steps.
        hoist: project the inputs of all steps as one matmul before the loop (``True``) or
            inside each step (``False``, faster on XLA:CPU; benchmarks/README.md).
        mode: ``"sequential"`` (``lax.scan``), ``"parallel"`` (``lax.associative_scan``, cells
            with a ``LinearRecurrence``), ``"newton"`` (any cell, in parallel over time by
            Newton's method; :mod:`rnn_jax.unroll.newton`) or ``"auto"`` (:func:`choose_mode`).
        weight_gradients: ``"per_step"`` (autodiff of the scan), ``"one_matmul"`` (a custom
            VJP, cells with a ``SplitStep``; :mod:`rnn_jax.unroll.one_matmul`) or ``"auto"``
            (:func:`choose_weight_gradients`).
        newton: the :class:`~rnn_jax.unroll.newton.Newton` controls (method, tol, max_iter,
            damping) of ``mode="newton"``; :func:`rnn_jax.unroll.newton.solve` also returns
            the iteration count and residual, and takes a warm start.
        truncation: ``None``, or ``k``: the gradient through the carry stops every ``k`` steps
            (truncated BPTT, windows counted from each sequence's first step in the direction
            it runs): the gradient reaching step ``s`` from a loss at step ``t`` is exactly
            zero unless both lie in the same window. The values are those of the full loop.
            ``k`` at most the number of steps; sequential, per-step gradients only.
    """

    unroll: int | bool = 1
    remat: bool | int = False
    hoist: bool = False
    mode: Mode = Mode.AUTO
    weight_gradients: WeightGradients = WeightGradients.AUTO
    newton: Newton = Newton()
    truncation: int | None = None

    def __post_init__(self):
        if self.unroll is not True and (isinstance(self.unroll, bool) or not isinstance(self.unroll, int)
                                        or self.unroll < 1):
            raise ValueError(f"unroll={self.unroll!r} must be a positive int (steps per loop iteration) or True")
        if not isinstance(self.remat, bool) and not (isinstance(self.remat, int) and self.remat >= 1):
            raise ValueError(f"remat={self.remat!r} must be a bool or a positive int (steps per rematerialised segment)")
        if not isinstance(self.hoist, bool):
            raise TypeError(f"hoist={self.hoist!r} must be a bool")
        object.__setattr__(self, "mode", _checks.choice(Mode, self.mode, "mode"))
        object.__setattr__(self, "weight_gradients",
                           _checks.choice(WeightGradients, self.weight_gradients, "weight_gradients"))
        if self.mode in (Mode.PARALLEL, Mode.NEWTON) and (self.remat is not False or self.unroll != 1):
            raise ValueError(f"remat={self.remat!r} and unroll={self.unroll!r} are options of mode='sequential'; "
                             f"mode={self.mode.value!r} takes neither")
        if self.weight_gradients is WeightGradients.ONE_MATMUL and self.mode in (Mode.PARALLEL, Mode.NEWTON):
            raise ValueError("weight_gradients='one_matmul' is an option of mode='sequential'")
        if not isinstance(self.newton, Newton):
            raise TypeError(f"newton={self.newton!r} must be a rnn_jax.unroll.Newton")
        if self.newton != Newton():
            self._refuse_newton_outside_its_mode()
        if self.truncation is not None:
            _checks.positive_int(self.truncation, "truncation")
            if self.mode in (Mode.PARALLEL, Mode.NEWTON) or self.weight_gradients is WeightGradients.ONE_MATMUL:
                raise ValueError(f"truncation={self.truncation} stops the gradient inside the sequential loop; "
                                 f"mode={self.mode.value!r} with weight_gradients={self.weight_gradients.value!r} "
                                 "cannot: use mode='sequential' and weight_gradients='per_step' (or 'auto')")

    @classmethod
    def of(cls, options: Options | None = None, **fields) -> Options:
        """``options`` (default ``Options()``) with ``fields`` set: what :func:`rnn_jax.unroll`
        runs with. An unknown field is refused, naming the known ones."""
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise TypeError(f"options={options!r} must be a rnn_jax.unroll.Options")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise TypeError(f"unknown loop option(s) {unknown}: the loop options are the fields of "
                            f"rnn_jax.unroll.Options: {known}")
        options = dataclasses.replace(options, **fields) if fields else options
        if "newton" in fields:  # given, even at its default
            options._refuse_newton_outside_its_mode()
        return options

    def _refuse_newton_outside_its_mode(self) -> None:
        if self.mode is not Mode.NEWTON:
            raise ValueError(f"newton={self.newton!r} is an option of mode='newton', not mode={self.mode.value!r}")

    def for_cell(self, cell: Cell) -> Options:
        """These options, refused when ``cell`` cannot run with them."""
        if self.mode is Mode.PARALLEL and cell.linear_recurrence is None:
            raise ValueError(f"mode='parallel' needs a cell whose recurrence is linear in its state "
                             f"(lru, mingru, minlstm); {cell.name!r} has none: use mode='sequential'")
        if self.weight_gradients is WeightGradients.ONE_MATMUL and cell.split is None:
            raise ValueError(f"weight_gradients='one_matmul' needs a cell whose step applies linear(h, w_hh) once "
                             f"(rnn, irnn, lstm, reset-after gru, exprnn); {cell.name!r} does not: use 'per_step'")
        return self

    def resolve(self, cell: Cell, *, seq_len: int, hidden_size: int, batch_size: int,
                backend: str | None = None) -> Options:
        """The options with ``"auto"`` replaced by what :func:`choose_mode` and
        :func:`choose_weight_gradients` pick for this call."""
        options = self.for_cell(cell)
        backend = jax.default_backend() if backend is None else backend
        if self.truncation is not None and self.truncation > seq_len:
            raise ValueError(f"truncation={self.truncation} is longer than the sequence ({seq_len} steps); "
                             f"it must be at most {seq_len}")
        mode = self.mode
        if mode is Mode.AUTO:
            mode = (Mode.SEQUENTIAL if self.truncation is not None
                    else choose_mode(cell, seq_len, remat=self.remat, unroll=self.unroll, backend=backend))
        gradients = self.weight_gradients
        if gradients is WeightGradients.AUTO and self.truncation is not None:
            gradients = WeightGradients.PER_STEP
        elif gradients is WeightGradients.AUTO:
            gradients = (choose_weight_gradients(cell, hidden_size, batch_size, backend=backend)
                         if mode is Mode.SEQUENTIAL else WeightGradients.PER_STEP)
        return dataclasses.replace(options, mode=mode, weight_gradients=gradients)


def choose_mode(cell: Cell, seq_len: int, *, remat: bool | int = False, unroll: int | bool = 1,
                backend: str | None = None) -> Mode:
    """The mode ``Mode.AUTO`` resolves to (never ``newton``: ``benchmarks.newton`` measured it
    slower than the sequential loop on this CPU, and no accelerator measurement says
    otherwise): sequential on a CPU, where the parallel scan was
    slower at every length measured; on a GPU or TPU parallel for a cell with a
    ``LinearRecurrence`` from ``PARALLEL_FROM_STEPS`` steps on (not measured here: no
    accelerator). Sequential whenever ``remat`` or an ``unroll`` factor is asked for."""
    backend = jax.default_backend() if backend is None else backend
    if cell.linear_recurrence is None or backend == CPU or remat is not False or unroll != 1 or seq_len < PARALLEL_FROM_STEPS:
        return Mode.SEQUENTIAL
    return Mode.PARALLEL


def choose_weight_gradients(cell: Cell, hidden_size: int, batch_size: int, *,
                            backend: str | None = None) -> WeightGradients:
    """The path ``WeightGradients.AUTO`` resolves to: ``one_matmul`` for a cell with a
    ``SplitStep`` on a CPU from ``ONE_MATMUL_FROM_HIDDEN`` units, except for gated cells
    (``cell.split.num_gates > 1``) at batches of at least ``PER_STEP_FROM_BATCH`` with at most
    ``PER_STEP_UP_TO_HIDDEN`` units; ``per_step`` otherwise (and on accelerators, not
    measured)."""
    backend = jax.default_backend() if backend is None else backend
    if cell.split is None or backend != CPU or hidden_size < ONE_MATMUL_FROM_HIDDEN:
        return WeightGradients.PER_STEP
    if cell.split.num_gates > 1 and batch_size >= PER_STEP_FROM_BATCH and hidden_size <= PER_STEP_UP_TO_HIDDEN:
        return WeightGradients.PER_STEP
    return WeightGradients.ONE_MATMUL

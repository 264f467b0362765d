"""``unroll``: the one place where a cell runs over time.

Everything that depends on time lives here: the input projection (inside each step, or
hoisted as one matmul for all steps), variable lengths, reversal over each sequence's valid part, the initial carry,
the unroll factor, rematerialisation and the hidden-state probe used by the diagnostics.

Two modes (:class:`Mode`): ``jax.lax.scan`` one step after another, and, for cells whose
recurrence is linear in the state (``lru``, ``mingru``, ``minlstm``), ``jax.lax.associative_scan``
over the time axis, which does O(t) work in O(log t) sequential depth.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells.base import Cell
from rnn_jax.types import CPU, Carry, Lengths, Params
from rnn_jax.weight_gradients import (
    WeightGradients,
    choose_weight_gradients,
    finish_step,
    one_matmul_loop,
)


class Mode(enum.StrEnum):
    """How :func:`unroll` runs the recurrence over time."""

    AUTO = "auto"  # sequential on CPU (measured), parallel for long sequences on accelerators (``choose_mode``)
    SEQUENTIAL = "sequential"  # jax.lax.scan, one step after another
    PARALLEL = "parallel"  # jax.lax.associative_scan; cells with a LinearRecurrence only


PARALLEL_FROM_STEPS = 256
"""On an accelerator, the shortest sequence for which ``Mode.AUTO`` picks the parallel scan."""


def choose_mode(cell: Cell, seq_len: int, *, remat: bool | int = False, unroll: int | bool = 1,
                backend: str | None = None) -> Mode:
    """The mode ``Mode.AUTO`` resolves to.

    Sequential on CPU, always: ``benchmarks.parallel_scan`` measured the parallel scan slower
    there at every length from 64 to 4096 steps for ``lru``, ``mingru`` and ``minlstm``
    (forward + backward, B = 32, H = 128, 2-core CPU; benchmarks/README.md). The associative
    scan does about twice the work of the loop in O(log t) rounds of strided slices, and a
    CPU has too few cores for the depth to pay for the work. On a GPU or TPU, parallel for a
    cell with a :class:`~rnn_jax.cells.base.LinearRecurrence` from ``PARALLEL_FROM_STEPS``
    steps on, as the papers measured there (Feng et al. 2024: minGRU's parallel scan 175x
    faster than its loop at T = 512 on a GPU); no accelerator was available to measure it
    here. Sequential whenever ``remat`` or an ``unroll`` factor (options of the loop) is asked for.

    Args:
        cell: the cell.
        seq_len: ``t``.
        remat, unroll: as for :func:`unroll`.
        backend: ``"cpu"``, ``"gpu"``, ``"tpu"``...; default: ``jax.default_backend()``.
    """
    backend = jax.default_backend() if backend is None else backend
    if (cell.linear is None or backend == CPU or remat is not False or unroll != 1
            or seq_len < PARALLEL_FROM_STEPS):
        return Mode.SEQUENTIAL
    return Mode.PARALLEL


def check_mode(cell: Cell, mode: Mode | str, *, remat: bool | int = False, unroll: int | bool = 1) -> Mode:
    """``mode`` as a :class:`Mode`, refused when it cannot run ``cell``: the parallel mode needs
    a cell with a ``LinearRecurrence`` and takes neither ``remat`` nor an ``unroll`` factor."""
    mode = _checks.choice(Mode, mode, "mode")
    if mode is Mode.PARALLEL:
        if cell.linear is None:
            raise ValueError(f"mode='parallel' needs a cell whose recurrence is linear in its state "
                             f"(lru, mingru, minlstm); {cell.name!r} has none: use mode='sequential'")
        if remat is not False or unroll != 1:
            raise ValueError(f"remat={remat!r} and unroll={unroll!r} are options of mode='sequential'; "
                             "the parallel mode takes neither")
    return mode


def check_weight_gradients(cell: Cell, value: WeightGradients | str, mode: Mode) -> WeightGradients:
    """``value`` as a :class:`WeightGradients`, refused when ``cell`` cannot take it: the
    one-matmul path needs a cell with a ``SplitStep`` and the sequential mode."""
    value = _checks.choice(WeightGradients, value, "weight_gradients")
    if value is WeightGradients.ONE_MATMUL:
        if cell.split is None:
            raise ValueError(f"weight_gradients='one_matmul' needs a cell whose step applies linear(h, w_hh) once "
                             f"(rnn, irnn, lstm, reset-after gru, exprnn); {cell.name!r} does not: use 'per_step'")
        if mode is Mode.PARALLEL:
            raise ValueError("weight_gradients='one_matmul' is an option of mode='sequential'")
    return value


def step_mask(lengths: jax.Array | None, seq_len: int) -> jax.Array | None:
    """``[*b, t]`` bool, true on each sequence's valid steps (``t < length``); ``None`` when
    ``lengths`` is ``None`` (every step is valid)."""
    if lengths is None:
        return None
    lengths = jnp.asarray(lengths)
    return jnp.arange(seq_len).reshape((1,) * lengths.ndim + (-1,)) < lengths[..., None]


def at_last_step(xs_t: jax.Array, lengths: jax.Array | None) -> jax.Array:
    """Each sequence's entry of time-major ``xs_t[t, *b, ...]`` at its last valid step,
    ``length - 1`` (the last step when ``lengths`` is ``None``)."""
    if lengths is None:
        return xs_t[-1]
    index = (jnp.asarray(lengths) - 1).reshape((1, *jnp.shape(lengths)) + (1,) * (xs_t.ndim - 1 - jnp.ndim(lengths)))
    return jnp.take_along_axis(xs_t, index, axis=0)[0]


def _reverse_valid(x: jax.Array, lengths: jax.Array) -> jax.Array:
    """Reverses each sequence of time-major ``x[t, *b, ...]`` over its valid part ``[0, len)``.

    Padding stays at the end. The permutation is an involution: applying it twice is the
    identity, so the same call maps outputs back to the original time order.
    """
    t = jnp.arange(x.shape[0], dtype=lengths.dtype).reshape((-1,) + (1,) * lengths.ndim)  # [t, 1, ...]
    lengths = lengths[None]  # [1, *b]
    index = jnp.where(t < lengths, lengths - 1 - t, t)  # [t, *b]
    index = index.reshape(index.shape + (1,) * (x.ndim - index.ndim))
    return jnp.take_along_axis(x, jnp.broadcast_to(index, x.shape), axis=0)


def _segment_length(remat: bool | int, seq_len: int) -> int:
    if remat is True:
        return max(1, round(math.sqrt(seq_len)))
    return min(remat, seq_len)


def _segmented_scan(body, carry, xs, segment: int, backwards: bool, unroll):
    """``lax.scan(body, carry, xs)`` as a scan over segments of ``segment`` steps, each
    segment under ``jax.checkpoint``: the backward pass keeps only the carries at segment
    boundaries and recomputes one segment at a time, so memory is O(t/k + k) steps instead
    of O(t) (k = sqrt(t) minimises it). The values are those of the plain scan."""
    if backwards:  # run the time-reversed sequence forwards
        xs = jax.tree.map(lambda a: jnp.flip(a, 0), xs)
    seq_len = jax.tree.leaves(xs)[0].shape[0]
    count, tail = divmod(seq_len, segment)

    @jax.checkpoint
    def run_segment(carry, xs_segment):
        return jax.lax.scan(body, carry, xs_segment, unroll=unroll)

    head = jax.tree.map(lambda a: a[: count * segment].reshape((count, segment) + a.shape[1:]), xs)
    carry, hs = jax.lax.scan(run_segment, carry, head)
    hs = hs.reshape((count * segment,) + hs.shape[2:])
    if tail:
        carry, hs_tail = run_segment(carry, jax.tree.map(lambda a: a[count * segment:], xs))
        hs = jnp.concatenate([hs, hs_tail])
    return carry, jnp.flip(hs, 0) if backwards else hs


def _recurrent_weight_first(params: Params) -> Params:
    """``params`` with ``w_hh`` passed through an ``optimization_barrier`` (a no-op on values).

    Inside the scan body this makes ``w_hh`` the loop's first constant, so its gradient
    accumulator comes first in the backward loop; XLA:CPU then runs a training step 15-20%
    faster than when ``w_ih`` comes first, which is what projecting the inputs before the
    step would otherwise cause (LSTM (100, 32, 2, 128) on a 2-core CPU: 24.7 -> 20.4 ms;
    see benchmarks/README.md). Values and gradients are unchanged.
    """
    if "w_hh" not in params:
        return params
    return {**params, "w_hh": jax.lax.optimization_barrier(params["w_hh"])}


def input_size_of(params: Params) -> int | None:
    """The input size a cell's parameters expect: the last axis of ``w_ih`` (every built-in
    cell), or ``None`` when the parameters have no ``w_ih`` (cells from Flax)."""
    return params["w_ih"].shape[-1] if "w_ih" in params else None


def _check(cell, params, xs, lengths, initial_carry, time_major, unroll, probe, hoist, remat, mode, gradients):
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be a rnn_jax.cells.Cell, got {type(cell).__name__}; use rnn_jax.cells.get(name)")
    if not isinstance(params, dict):
        raise TypeError(f"params must be the dict returned by cell.init, got {type(params).__name__}")
    _checks.float_array(xs, "xs", ndim_min=2)
    input_size = input_size_of(params)
    if input_size is not None and xs.shape[-1] != input_size:
        raise ValueError(
            f"xs has {xs.shape[-1]} features on its last axis (shape {tuple(xs.shape)}), "
            f"expected input_size={input_size} from params"
        )
    seq_len = xs.shape[0] if time_major else xs.shape[-2]
    batch_shape = tuple(xs.shape[1:-1] if time_major else xs.shape[:-2])
    if seq_len < 1:
        raise ValueError(f"xs has no time steps (shape {tuple(xs.shape)}); expected at least 1")
    if lengths is not None:
        _checks.lengths_array(lengths, batch_shape, seq_len)
    if not isinstance(hoist, bool):
        raise TypeError(f"hoist={hoist!r} must be a bool")
    if not isinstance(remat, bool) and not (isinstance(remat, int) and remat >= 1):
        raise ValueError(f"remat={remat!r} must be a bool or a positive int (steps per rematerialised segment)")
    if unroll is not True and (isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"unroll={unroll!r} must be a positive int (steps per loop iteration) or True")
    try:
        want = jax.eval_shape(lambda p: cell.initial_carry(p, batch_shape), params)
    except KeyError as missing:
        raise TypeError(f"params lack {missing}, which the {cell.name!r} cell needs; params must be the dict "
                        f"returned by cell.init") from None
    if probe is not None:
        expected = (seq_len, *jax.eval_shape(cell.hidden, want).shape)
        if tuple(probe.shape) != expected:
            raise ValueError(f"probe must have shape [t, *b, h] = {expected}, got {tuple(probe.shape)}")
    mode = check_mode(cell, mode, remat=remat, unroll=unroll)
    if mode is Mode.AUTO:
        mode = choose_mode(cell, seq_len, remat=remat, unroll=unroll)
    gradients = check_weight_gradients(cell, gradients, mode)
    if gradients is WeightGradients.AUTO:
        gradients = (choose_weight_gradients(cell, jax.eval_shape(cell.hidden, want).shape[-1], math.prod(batch_shape))
                     if mode is Mode.SEQUENTIAL else WeightGradients.PER_STEP)
    if initial_carry is not None:
        got = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), initial_carry)
        if jax.tree.structure(want) != jax.tree.structure(got) or any(
            w.shape != g.shape for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got))
        ):
            shapes = jax.tree.map(lambda a: a.shape, want)
            raise ValueError(
                f"initial_carry must match cell.initial_carry(params, {batch_shape}) with shapes "
                f"{shapes}, got {jax.tree.map(lambda a: a.shape, got)}"
            )
    return seq_len, batch_shape, mode, gradients


def _combine(earlier, later):
    """``s = a ⊙ s_prev + b`` composed: ``later ∘ earlier``."""
    (a1, b1), (a2, b2) = earlier, later
    return a1 * a2, a2 * b1 + b2


def _log_combine(earlier, later):
    """:func:`_combine` on ``(log a, log b)`` of positive coefficients."""
    (la1, lb1), (la2, lb2) = earlier, later
    return la1 + la2, jnp.logaddexp(la2 + lb1, lb2)


def _parallel(cell: Cell, params: Params, xs_t, carry, probe, lengths, backwards: bool):
    """All states ``s_t = a_t ⊙ s_{t-1} + b_t`` by ``jax.lax.associative_scan``; the same values as
    the sequential loop.

    The probe is added to ``b_t`` (adding ``p_t`` to ``s_t`` after the step is the same thing
    for a linear recurrence) and the initial state enters as ``b_0 += a_0 ⊙ s_init``. In log
    space both are scanned separately in the linear domain and added (the recurrence is linear,
    so contributions superpose) because they may be zero or negative. Padded steps need no
    masking inside the scan: they come after each sequence's valid steps, so the final carry is
    read at ``length - 1`` and their outputs are set to zero.
    """
    linear = cell.linear
    if backwards:
        xs_t = jnp.flip(xs_t, 0)
        probe = None if probe is None else jnp.flip(probe, 0)
    x_proj = cell.project_inputs(params, xs_t)
    extra = None if probe is None else linear.to_state(probe)
    if linear.log_coefficients is None:
        a, b = linear.coefficients(params, x_proj)
        b = b.at[0].add(a[0] * linear.to_state(carry))
        _, states = jax.lax.associative_scan(_combine, (a, b if extra is None else b + extra))
    else:
        log_a, log_b = linear.log_coefficients(params, x_proj)
        _, log_states = jax.lax.associative_scan(_log_combine, (log_a, log_b))
        states = jnp.exp(log_states)
        a = jnp.exp(log_a)
        start = a[0] * linear.to_state(carry)
        extra = jnp.zeros_like(states).at[0].set(start) if extra is None else extra.at[0].add(start)
        states = states + jax.lax.associative_scan(_combine, (a, extra))[1]
    carries = linear.from_state(states)
    hs = carries if cell.readout is None else cell.readout(params, carries, x_proj)
    if backwards:
        hs = jnp.flip(hs, 0)
    final = at_last_step(carries, lengths)
    if lengths is None:
        return final, hs
    valid = step_mask(lengths, xs_t.shape[0])  # [*b, t]
    return final, jnp.where(jnp.moveaxis(valid, -1, 0)[..., None], hs, jnp.zeros_like(hs))


def unroll(
    cell: Cell,
    params: Params,
    xs: jax.Array,
    *,
    lengths: Lengths | None = None,
    initial_carry: Carry | None = None,
    reverse: bool = False,
    time_major: bool = False,
    unroll: int | bool = 1,
    remat: bool = False,
    probe: jax.Array | None = None,
    hoist: bool = False,
    mode: Mode | str = Mode.AUTO,
    weight_gradients: WeightGradients | str = WeightGradients.AUTO,
) -> tuple[Carry, jax.Array]:
    """Runs ``cell`` over the time axis of ``xs``.

    Args:
        cell: a :class:`~rnn_jax.cells.Cell`.
        params: the cell's parameters (from ``cell.init``).
        xs: ``[*b, t, i]`` float inputs (``[t, *b, i]`` when ``time_major``).
        lengths: ``[*b]`` ints in ``[1, t]``. Steps ``t >= length`` keep the carry unchanged
            and emit zeros, so ``final_carry`` is each sequence's carry at its own last step.
        initial_carry: the carry before the first step (default: zeros).
        reverse: run each sequence backwards over its valid part; outputs stay aligned with
            the inputs' time positions and padding stays at the end.
        time_major: ``xs`` (and the returned ``hs``) are ``[t, *b, ...]``.
        unroll: steps per loop iteration of the scan (``True``: fully unrolled).
        remat: rematerialise in the backward pass instead of storing every step's
            intermediates: the time axis is cut into segments under ``jax.checkpoint`` and
            only the carries at segment boundaries are kept. ``True``: segments of
            ``round(sqrt(t))`` steps (memory O(sqrt(t)) steps instead of O(t)); an int ``k``:
            segments of ``k`` steps (``1`` = recompute each step). Same values either way.
        probe: ``[t, *b, h]`` array (zeros) added to the hidden state after each step, inside
            the carry, so ``jax.grad(loss, argnums=probe)[t] == dL/dh_t``.
        hoist: compute ``cell.project_inputs`` for all steps as one matmul before the loop
            (``True``) or inside each step (``False``, the default). Measured on a 2-core
            CPU (XLA:CPU), projecting inside the step was 15-33% faster for a training step
            at every shape of ``benchmarks.cells``: the projected ``[t, *b, G*h]`` array and
            its cotangent are never materialised. Both give the same values.
        mode: ``"sequential"`` (``lax.scan``), ``"parallel"`` (``lax.associative_scan``, for
            cells with a ``LinearRecurrence``; the parallel mode always projects all steps
            at once) or ``"auto"`` (the default; see :func:`choose_mode`). Both modes give the
            same outputs, final carries and gradients up to float rounding.
        weight_gradients: how the sequential loop's backward pass forms the weights'
            gradients: ``"per_step"`` (autodiff of the scan, accumulated in every backward
            step), ``"one_matmul"`` (a custom VJP: ``dw_hh = Σ_t dr_tᵀ h_{t-1}`` and the input
            projection's gradients as one matmul each after the loop; cells with a
            ``SplitStep``: rnn, irnn, lstm, reset-after gru, exprnn) or ``"auto"`` (the
            default; see :func:`~rnn_jax.weight_gradients.choose_weight_gradients`). Same
            values up to float rounding; with ``"one_matmul"`` ``hoist`` only changes the
            forward pass.

    Returns:
        ``(final_carry, hs)`` with ``hs`` of shape ``[*b, t, h]`` (``[t, *b, h]`` if time-major).

    Raises:
        TypeError / ValueError: before tracing, for a wrong dtype, rank, feature size, lengths,
            probe, initial carry or mode.
    """
    seq_len, batch_shape, mode, gradients = _check(
        cell, params, xs, lengths, initial_carry, time_major, unroll, probe, hoist, remat, mode, weight_gradients
    )
    xs_t = xs if time_major else jnp.moveaxis(xs, -2, 0)
    reorder = reverse and lengths is not None
    if reorder:
        xs_t = _reverse_valid(xs_t, lengths)
        probe = None if probe is None else _reverse_valid(probe, lengths)
    params = cell.prepare(params)
    carry = cell.initial_carry(params, batch_shape) if initial_carry is None else initial_carry
    if lengths is not None:
        lengths = jnp.asarray(lengths)
    backwards = reverse and not reorder
    if mode is Mode.PARALLEL:
        carry, hs = _parallel(cell, params, xs_t, carry, probe, lengths, backwards)
    elif gradients is WeightGradients.ONE_MATMUL:
        carry, hs = _one_matmul(cell, params, xs_t, carry, probe, lengths, backwards, unroll, remat, hoist)
    else:
        carry, hs = _sequential(cell, params, xs_t, carry, probe, lengths, backwards, unroll, remat, hoist)
    if reorder:
        hs = _reverse_valid(hs, lengths)
    return carry, hs if time_major else jnp.moveaxis(hs, 0, -2)


def _sequential(cell: Cell, params: Params, xs_t, carry, probe, lengths, backwards, unroll, remat, hoist):
    """The states one step after another, by ``jax.lax.scan`` (segmented under ``remat``)."""
    inputs = cell.project_inputs(params, xs_t) if hoist else xs_t

    def body(carry: Any, inputs: tuple) -> tuple[Any, jax.Array]:
        x_t, t, probe_t = inputs
        params_ = _recurrent_weight_first(params)
        if not hoist:
            x_t = cell.project_inputs(params_, x_t)
        valid_t = None if lengths is None else t < lengths
        return finish_step(cell, params_, carry, *cell.step(params_, carry, x_t), x_t, probe_t, valid_t)

    seq_len = xs_t.shape[0]
    steps = jnp.arange(seq_len, dtype=jnp.int32 if lengths is None else lengths.dtype)
    if not remat:
        return jax.lax.scan(body, carry, (inputs, steps, probe), reverse=backwards, unroll=unroll)
    segment = _segment_length(remat, seq_len)
    return _segmented_scan(body, carry, (inputs, steps, probe), segment, backwards, unroll)


def _one_matmul(cell: Cell, params: Params, xs_t, carry, probe, lengths, backwards, unroll, remat, hoist):
    """The sequential loop with ``weight_gradients="one_matmul"`` (:mod:`rnn_jax.weight_gradients`)."""
    if backwards:  # without lengths: the whole time axis runs backwards
        xs_t = jnp.flip(xs_t, 0)
        probe = None if probe is None else jnp.flip(probe, 0)
    valid = None if lengths is None else jnp.moveaxis(step_mask(lengths, xs_t.shape[0]), -1, 0)
    segment = _segment_length(remat, xs_t.shape[0]) if remat else None
    carry, hs = one_matmul_loop(cell, params, xs_t, carry, probe, valid, unroll=unroll, segment=segment,
                                 hoist=hoist)
    return carry, jnp.flip(hs, 0) if backwards else hs

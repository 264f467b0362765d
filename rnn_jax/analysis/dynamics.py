"""The dynamics behind the gradients: Lyapunov spectra of a cell driven by its inputs.

    exponents = dynamics.lyapunov_spectrum(cell, params, xs, num=4)     # [*b, 4], per step

The QR (Benettin) method, as in Engelken, Wolf & Abbott 2023 (RainerEngelken/
RNN-LyapunovSpectra): along the trajectory ``s_t = f(s_{t-1}, x_t)`` of the cell's carry
(flattened to one vector, :class:`~rnn_jax.cells.carry_vector.CarryVector`), an orthonormal
frame ``Q`` of ``num`` tangent directions is pushed through each step Jacobian
(``Q ← J_t Q``, as Jacobian–vector products) and re-orthonormalised, ``Q, R = qr(Q)``; the
exponents are the averages of ``log |R_ii|`` over the steps after the warm-up. First the
state runs alone for ``state_warmup`` steps (its transient), then the frame aligns with the
dynamics for ``frame_warmup`` steps, uncounted.

Everything is a pure function of arrays: it composes with ``jit``, ``vmap`` (over seeds)
and ``grad`` (the QR is differentiable), so a loss can train through it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import _checks
from rnn_jax.cells.base import Cell, forward_map
from rnn_jax.cells.carry_vector import CarryVector
from rnn_jax.types import Params


def _state_step(cell: Cell, params: Params, layout: CarryVector):
    """One sequence's step on its state vector: ``s_t = f(s_{t-1}, x_proj_t)``."""

    def step(state, x_t):
        return layout.flatten(cell.step(params, layout.unflatten(state), x_t)[0])

    return step


def lyapunov_spectrum(cell: Cell, params: Params, xs: jax.Array, *, num: int | None = None, state_warmup: int = 0,
                      frame_warmup: int = 0, initial_carry=None) -> jax.Array:
    """The ``num`` largest Lyapunov exponents of ``cell`` driven by ``xs``, per step, in
    natural log, sorted in descending order.

    Args:
        cell: any :class:`~rnn_jax.cells.Cell` (built-in, registered, or ``cells.from_flax``).
        params: its parameters.
        xs: ``[*b, t, i]`` batch-major inputs; one spectrum per sequence.
        num: how many exponents (``None``: all, the state's size ``n``).
        state_warmup: steps the state runs before the frame starts.
        frame_warmup: steps after those in which the frame aligns, not counted.
        initial_carry: the carry before the first step (default: zeros).

    Returns:
        ``[*b, num]``; averaged over the ``t - state_warmup - frame_warmup`` counted steps.

    Raises:
        ValueError / TypeError: before tracing, for a bad ``num`` or warm-up longer than ``xs``,
            a cell with an empty carry, or (outside ``jit``) a non-finite input.
    """
    _checks.float_array(xs, "xs", ndim_min=2)
    if _checks.is_concrete(xs):  # host numpy: also when xs is a constant inside a trace
        bad = np.argwhere(~np.isfinite(np.asarray(xs)))
        if len(bad):
            raise ValueError(f"xs has a non-finite value at index {tuple(int(i) for i in bad[0])}: the exponents "
                             "would be NaN")
    steps = xs.shape[-2]
    _checks.nonneg_int(state_warmup, "state_warmup")
    _checks.nonneg_int(frame_warmup, "frame_warmup")
    if state_warmup + frame_warmup >= steps:
        raise ValueError(f"state_warmup + frame_warmup = {state_warmup + frame_warmup} leaves no step of xs "
                         f"({steps} steps) to count")
    batch_shape = xs.shape[:-2]
    carry = cell.initial_carry(params, batch_shape) if initial_carry is None else initial_carry
    layout = CarryVector.of(carry, len(batch_shape))
    n = layout.size
    if n == 0:
        raise ValueError(f"cell {cell.name!r} has no state to measure: its carry is empty")
    num = n if num is None else _checks.positive_int(num, "num")
    if num > n:
        raise ValueError(f"num={num} exceeds the state's size {n}")
    state = layout.flatten(carry).reshape(-1, n)
    cell = forward_map(cell)
    params = cell.hooks.prepare(params)  # as unroll does once per call (exprnn: w_hh = expm(A - Aᵀ))
    x_proj = jnp.moveaxis(cell.project_inputs(params, xs), -2, 0).reshape(steps, state.shape[0], -1)
    step = jax.vmap(_state_step(cell, params, layout))  # over sequences
    x_run, x_frame, x_count = x_proj[:state_warmup], x_proj[state_warmup:state_warmup + frame_warmup], \
        x_proj[state_warmup + frame_warmup:]
    state = jax.lax.scan(lambda s, x: (step(s, x), None), state, x_run)[0]
    frame = jnp.broadcast_to(jnp.eye(n, num, dtype=state.dtype), (state.shape[0], n, num))

    def tangent(carry, x_t):
        s, q = carry
        new, push = jax.linearize(lambda s_: step(s_, x_t), s)
        pushed = jax.vmap(push, in_axes=-1, out_axes=-1)(q)  # J_t Q, column by column
        q, r = jnp.linalg.qr(pushed)
        return (new, q), jnp.log(jnp.abs(jnp.diagonal(r, axis1=-2, axis2=-1)))

    state, frame = jax.lax.scan(tangent, (state, frame), x_frame)[0]
    _, logs = jax.lax.scan(tangent, (state, frame), x_count)
    exponents = -jnp.sort(-jnp.mean(logs, axis=0), axis=-1)
    return exponents.reshape(*batch_shape, num)

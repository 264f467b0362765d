"""The Newton loop: a nonlinear cell evaluated in parallel over time (Lim et al. 2024, DEER;
Gonzalez et al. 2024, quasi-DEER).

The states ``s_1 … s_T`` of ``s_t = f_t(s_{t-1})`` (the cell's step, its carry flattened to
one vector per sequence) are the root of ``s_t - f_t(s_{t-1}) = 0`` for all t at once.
Newton's method on that system linearises every step around the current guess,

    s_t ← f_t(s̄_{t-1}) + J_t (s_{t-1} - s̄_{t-1}),     J_t = ∂f_t/∂s at s̄_{t-1},

and solves the linear recurrence with ``jax.lax.associative_scan``, O(log T) deep. The
methods (:class:`Method`):

* ``full`` (DEER): the whole Jacobian; exact after at most T iterations, quadratic near the
  solution; the scan multiplies ``n × n`` matrices.
* ``diagonal`` (quasi-DEER): only ``diag(J_t)``; the scan is elementwise, each iteration
  cheaper, more iterations.
* ``damped``: the full Newton step, of which a fraction ``damping`` is taken
  (``s ← s̄ + damping · (s_newton - s̄)``), the classic damped Newton iteration.
* ``quasi_elk`` (Gonzalez et al. 2024): ``diag(J_t)`` and a trust region. The linearised
  recurrence is read as a linear-Gaussian state-space model, ``s_t = a_t s_{t-1} + b_t``
  plus unit noise, that observes the current guess ``s̄_t`` with variance ``1/lm_lambda``;
  the new trajectory is its Kalman-filtered mean, as in their code (lindermanlab/elk,
  ``elk/algs/elk.py``, which takes the filtered, not the smoothed, means). Per dimension
  the filter's variance follows a Möbius map, composed as 2 × 2 matrices by an associative
  scan, and the mean a linear recurrence. ``lm_lambda = 0`` is quasi-DEER; a larger one
  keeps each step nearer the guess, which bounds the iterates of an unstable (chaotic)
  network at the price of more iterations. ELK with the full Jacobian (a matrix Kalman
  filter) is not built.

Gradients are not autodiff through the iterations: at the converged trajectory the adjoint
``λ_t = ∂L/∂s_t + J_{t+1}ᵀ λ_{t+1}`` is itself a linear recurrence, solved by a reversed
associative scan (as in DEER), and the parameters' gradients are one vector–Jacobian
product over all steps at once. They equal the sequential loop's at convergence.

A trajectory that has not converged after ``max_iter`` iterations is returned as NaN, so it
cannot pass for a result (the runner then reports the member as non-finite, with its step);
:func:`solve` also returns the iteration count and the final residual.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells.base import Cell
from rnn_jax.cells.carry_vector import CarryVector
from rnn_jax.types import Params
from rnn_jax.unroll.masks import time_valid
from rnn_jax.unroll.step import finish_step


class Method(enum.StrEnum):
    """How each Newton iteration linearises the step (see the module docstring)."""

    FULL = "full"  # DEER
    DIAGONAL = "diagonal"  # quasi-DEER
    DAMPED = "damped"  # full Newton step, a fraction of it taken
    QUASI_ELK = "quasi_elk"  # diagonal Jacobian, Levenberg-Marquardt trust region by a Kalman filter


DEFAULT_TOL = {jnp.dtype(jnp.float32): 1e-5, jnp.dtype(jnp.float64): 1e-10}
"""``Newton.tol=None``: the largest change of any state between iterations at which to stop."""


@dataclasses.dataclass(frozen=True)
class Newton:
    """The controls of ``unroll(..., mode="newton")``, checked when made.

    Attributes:
        method: a :class:`Method` (default ``"full"``).
        tol: stop when no state changes by more than this between two iterations (``None``:
            :data:`DEFAULT_TOL` for the parameters' dtype). ``damped`` and ``quasi_elk``
            converge linearly, so their error at the stop can be a few times ``tol``.
        max_iter: at most this many iterations; a trajectory still changing by more than
            ``tol`` then is NaN. ``None``: T + 1 for ``full`` and ``diagonal`` (each
            iteration makes at least one more step exact, so T suffice); more for the damped
            methods (:meth:`default_max_iter`).
        damping: the fraction of the Newton step taken by ``method="damped"``, in (0, 1].
        lm_lambda: ELK's λ for ``method="quasi_elk"``, ≥ 0: the weight on staying near the
            current guess (their code's ``1 / sigmasq``).
    """

    method: Method = Method.FULL
    tol: float | None = None
    max_iter: int | None = None
    damping: float = 0.5
    lm_lambda: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "method", _checks.choice(Method, self.method, "method"))
        if self.tol is not None:
            _checks.number(self.tol, "tol", low=0.0)
            if not self.tol > 0:
                raise ValueError(f"tol={self.tol!r} must be > 0")
        if self.max_iter is not None:
            _checks.positive_int(self.max_iter, "max_iter")
        _checks.number(self.damping, "damping", low=0.0, high=1.0)
        if not self.damping > 0:
            raise ValueError(f"damping={self.damping!r} must be in (0, 1]")
        _checks.number(self.lm_lambda, "lm_lambda", low=0.0)

    def default_max_iter(self, steps: int, tol: float) -> int:
        """``max_iter=None``: T + 1, each iteration making one more step exact, plus for a
        damped method the iterations its linear rate needs to reach ``tol``: the rate
        ``1 - damping`` for ``damped``; for ``quasi_elk`` three times what the rate
        ``lm_lambda / (1 + lm_lambda)`` of its first step needs, since the filter's variance
        makes the later steps slower (measured 1.6-1.8x, tanh RNN and GRU, T = 12 to 1000)."""
        if self.method is Method.DAMPED and self.damping < 1.0:
            return steps + 1 + math.ceil(math.log(tol) / math.log(1.0 - self.damping))
        if self.method is Method.QUASI_ELK and self.lm_lambda > 0.0:
            return steps + 1 + 3 * math.ceil(math.log(tol) / math.log(self.lm_lambda / (1.0 + self.lm_lambda)))
        return steps + 1


class NewtonInfo(NamedTuple):
    """How a Newton solve went.

    Attributes:
        iterations: iterations run (int32 scalar).
        change: the largest change of a state in the last iteration.
        residual: ``max |s_t - f_t(s_{t-1})|`` over the returned trajectory.
        converged: ``change <= tol``.
    """

    iterations: jax.Array
    change: jax.Array
    residual: jax.Array
    converged: jax.Array


@dataclasses.dataclass(frozen=True)
class _Problem:
    """What the solve needs besides arrays (hashable: the custom VJP's static argument)."""

    cell: Cell
    layout: CarryVector
    newton: Newton
    tol: float
    max_iter: int

    def step(self, params: Params, state: jax.Array, inputs) -> tuple[jax.Array, jax.Array]:
        """One sequence's step in state space: ``(s_t, y_t)`` from ``s_{t-1}[n]`` and
        ``inputs = (x_proj_t, probe_t, valid_t)`` (probe and valid may be ``None``)."""
        x_t, probe_t, valid_t = inputs
        carry = self.layout.unflatten(state)
        new, y = self.cell.step(params, carry, x_t)
        valid = None if valid_t is None else valid_t > 0.5
        new, y = finish_step(self.cell, params, carry, new, y, x_t, probe_t, valid)
        return self.layout.flatten(new), y

    def _state_step(self, params):
        return lambda s, inputs: self.step(params, s, inputs)[0]

    def over_all(self, params, previous, inputs):
        """``f_t(previous_t)`` for every t and sequence: ``[T, B, n]``."""
        return jax.vmap(jax.vmap(self._state_step(params)))(previous, inputs)

    def jacobians(self, params, previous, inputs) -> jax.Array:
        """``J_t = ∂f_t/∂s`` at ``previous``: ``[T, B, n, n]``."""
        try:
            return jax.vmap(jax.vmap(jax.jacfwd(self._state_step(params))))(previous, inputs)
        except TypeError as error:  # a step with a custom backward pass (indrnn's grad_clip)
            reason = str(error).strip().splitlines()[0]
            raise ValueError(f"mode='newton' needs forward-mode derivatives (jax.jvp) of the {self.cell.name!r} "
                             f"step, which it does not provide ({reason}): use mode='sequential'") from None


def _shift(s0: jax.Array, states: jax.Array) -> jax.Array:
    """``s_{t-1}`` for every t: the initial state, then the states but the last."""
    return jnp.concatenate([s0[None], states[:-1]], axis=0)


def _matrix_combine(earlier, later):
    (a1, b1), (a2, b2) = earlier, later
    return a2 @ a1, jnp.einsum("...ij,...j->...i", a2, b1) + b2


def _diagonal_combine(earlier, later):
    (a1, b1), (a2, b2) = earlier, later
    return a2 * a1, a2 * b1 + b2


def _linear_states(a: jax.Array, b: jax.Array, s0: jax.Array, diagonal: bool) -> jax.Array:
    """Every ``s_t = a_t s_{t-1} + b_t`` from ``s_0`` (``a`` matrices ``[T, B, n, n]`` or,
    ``diagonal``, vectors ``[T, B, n]``), by an associative scan."""
    first = a[0] * s0 if diagonal else jnp.einsum("bij,bj->bi", a[0], s0)
    b = b.at[0].add(first)
    return jax.lax.associative_scan(_diagonal_combine if diagonal else _matrix_combine, (a, b))[1]


def _mobius_combine(earlier, later):
    """Two Möbius maps, as 2 × 2 matrices ``[..., 2, 2]``, composed, scaled to entries ≤ 1
    (the map is unchanged by a scale; the entries here are ≥ 0, so nothing cancels)."""
    product = later @ earlier
    return product / jnp.max(product, axis=(-2, -1), keepdims=True)


def kalman_filtered_states(a: jax.Array, b: jax.Array, s0: jax.Array, observed: jax.Array,
                           lm_lambda: float) -> jax.Array:
    """Elementwise Kalman-filtered means of ``s_t = a_t s_{t-1} + b_t + N(0, 1)`` from the
    known ``s_0``, observing ``observed_t`` with variance ``1 / lm_lambda`` (all ``[T, B, n]``
    but ``s0[B, n]``), by associative scans: ELK's step with a diagonal Jacobian.

    The variance after each update, ``P_t = (a_t² P_{t-1} + 1) / (λ (a_t² P_{t-1} + 1) + 1)``
    from ``P_0 = 0``, is a Möbius map of ``P_{t-1}``; with the predicted variance
    ``P⁻_t = a_t² P_{t-1} + 1`` and ``c_t = 1 / (1 + λ P⁻_t)``, the mean is the linear
    recurrence ``m_t = c_t (a_t m_{t-1} + b_t) + (1 - c_t) observed_t``.
    """
    sq = a * a
    one = jnp.ones_like(sq)
    maps = jnp.stack([jnp.stack([sq, one], -1), jnp.stack([lm_lambda * sq, (1.0 + lm_lambda) * one], -1)], -2)
    composed = jax.lax.associative_scan(_mobius_combine, maps / jnp.max(maps, axis=(-2, -1), keepdims=True))
    variance = composed[..., 0, 1] / composed[..., 1, 1]  # P_t, applied to P_0 = 0
    predicted = sq * _shift(jnp.zeros_like(s0), variance) + 1.0
    keep = 1.0 / (1.0 + lm_lambda * predicted)
    return _linear_states(keep * a, keep * b + (1.0 - keep) * observed, s0, diagonal=True)


def _iterate(problem: _Problem, params, s0, inputs, guess):
    """Newton iterations from ``guess``: ``(iterations, states, change)``."""
    diagonal = problem.newton.method in (Method.DIAGONAL, Method.QUASI_ELK)
    elk = problem.newton.method is Method.QUASI_ELK
    fraction = problem.newton.damping if problem.newton.method is Method.DAMPED else 1.0

    def body(loop):
        i, states, _ = loop
        previous = _shift(s0, states)
        values = problem.over_all(params, previous, inputs)
        jac = problem.jacobians(params, previous, inputs)
        if diagonal:
            jac = jnp.diagonal(jac, axis1=-2, axis2=-1)
            offset = values - jac * previous
        else:
            offset = values - jnp.einsum("tbij,tbj->tbi", jac, previous)
        if elk:
            new = kalman_filtered_states(jac, offset, s0, states, problem.newton.lm_lambda)
        else:
            new = _linear_states(jac, offset, s0, diagonal)
        if fraction != 1.0:
            new = states + fraction * (new - states)
        return i + 1, new, jnp.max(jnp.abs(new - states))

    def keep_going(loop):
        i, _, change = loop
        return (i < problem.max_iter) & (change > problem.tol)

    start = (jnp.int32(0), guess, jnp.asarray(jnp.inf, s0.dtype))
    return jax.lax.while_loop(keep_going, body, start)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _trajectory(problem: _Problem, params, s0, inputs, guess):
    """The converged states ``[T, B, n]`` and ``(iterations, change)`` as floats."""
    iterations, states, change = _iterate(problem, params, s0, inputs, guess)
    return states, jnp.stack([iterations.astype(states.dtype), change])


def _trajectory_fwd(problem, params, s0, inputs, guess):
    out = _trajectory(problem, params, s0, inputs, guess)
    return out, (params, s0, inputs, out[0])


def _trajectory_bwd(problem, residuals, cotangents):
    """The adjoint recurrence ``λ_t = g_t + J_{t+1}ᵀ λ_{t+1}`` by a reversed scan, then one
    vector–Jacobian product for the parameters, inputs and initial state."""
    params, s0, inputs, states = residuals
    g = cotangents[0]
    previous = _shift(s0, states)
    jac = problem.jacobians(params, previous, inputs)  # [T, B, n, n]
    transposed = jnp.swapaxes(jac, -1, -2)
    # flipped in time: μ_k = λ_{T-1-k} = g_{T-1-k} + J_{T-k}ᵀ μ_{k-1}, μ_{-1} = 0
    a = jnp.flip(jnp.concatenate([transposed[1:], jnp.zeros_like(transposed[:1])], axis=0), 0)
    adjoint = jnp.flip(_linear_states(a, jnp.flip(g, 0), jnp.zeros_like(s0), diagonal=False), 0)
    _, vjp = jax.vjp(lambda p, prev, inp: problem.over_all(p, prev, inp), params, previous, inputs)
    d_params, d_previous, d_inputs = vjp(adjoint)
    d_s0 = d_previous[0]
    return d_params, d_s0, d_inputs, jnp.zeros_like(states)


_trajectory.defvjp(_trajectory_fwd, _trajectory_bwd)


def solve(cell: Cell, params: Params, xs_t: jax.Array, carry, probe=None, lengths=None, *,
          newton: Newton = Newton(), guess: jax.Array | None = None):
    """``(final_carry, hs, info, states)`` of ``cell`` over time-major ``xs_t[T, *b, i]`` by
    Newton's method (forwards in time; :func:`rnn_jax.unroll` handles ``reverse``).

    Args:
        cell: as :func:`rnn_jax.unroll`.
        params: as :func:`rnn_jax.unroll`.
        xs_t: the inputs, time-major ``[T, *b, i]``.
        carry: the initial carry.
        probe: as :func:`rnn_jax.unroll` (time-major).
        lengths: as :func:`rnn_jax.unroll`.
        newton: the :class:`Newton` controls.
        guess: the initial trajectory ``[T, *b, n]`` of flattened states (``states`` of an
            earlier call, for a warm start); default zeros.

    Returns:
        ``final_carry``, ``hs[T, *b, h]``, a :class:`NewtonInfo`, and the states ``[T, *b, n]``.
    """
    batch_shape = xs_t.shape[1:-1]
    size = math.prod(batch_shape)
    flat = lambda a: a.reshape(a.shape[0], size, *a.shape[1 + len(batch_shape):])  # noqa: E731
    carry_b = jax.tree.map(lambda c: c.reshape(size, *c.shape[len(batch_shape):]), carry)
    layout = CarryVector.of(carry_b, 1)
    s0 = layout.flatten(carry_b)
    x_proj = flat(cell.project_inputs(params, xs_t))
    valid = time_valid(lengths, xs_t.shape[0])
    valid = None if valid is None else flat(valid.astype(s0.dtype))
    inputs = (x_proj, None if probe is None else flat(probe), valid)
    steps = xs_t.shape[0]
    tol = newton.tol if newton.tol is not None else DEFAULT_TOL.get(jnp.dtype(s0.dtype), 1e-5)
    problem = _Problem(cell, layout, newton, float(tol), newton.max_iter or newton.default_max_iter(steps, tol))
    start = jnp.zeros((steps, *s0.shape), s0.dtype) if guess is None else flat(jnp.asarray(guess, s0.dtype))
    states, stats = _trajectory(problem, params, s0, inputs, start)
    iterations, change = jax.lax.stop_gradient(stats)
    converged = change <= problem.tol
    states = jnp.where(converged, states, jnp.full_like(states, jnp.nan))
    previous = _shift(s0, states)
    values, hs = jax.vmap(jax.vmap(functools.partial(problem.step, params)))(previous, inputs)
    hs = jnp.where(converged, hs, jnp.full_like(hs, jnp.nan))
    residual = jax.lax.stop_gradient(jnp.max(jnp.abs(values - states)))
    info = NewtonInfo(iterations.astype(jnp.int32), change, residual, converged)
    final = layout.unflatten(states[-1])  # padded steps keep the carry: the last is each sequence's own
    final = jax.tree.map(lambda c: c.reshape(*batch_shape, *c.shape[1:]), final)
    unbatch = lambda a: a.reshape(a.shape[0], *batch_shape, *a.shape[2:])  # noqa: E731
    return final, unbatch(hs), info, unbatch(states)


def run(cell: Cell, params: Params, xs_t, carry, probe, lengths, backwards: bool, options):
    """The loop of ``unroll(..., mode="newton")``: ``(final_carry, hs)``."""
    if backwards:
        xs_t = jnp.flip(xs_t, 0)
        probe = None if probe is None else jnp.flip(probe, 0)
    final, hs, _, _ = solve(cell, params, xs_t, carry, probe, lengths, newton=options.newton)
    return final, jnp.flip(hs, 0) if backwards else hs

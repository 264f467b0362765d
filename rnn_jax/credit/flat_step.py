"""One sequence's step as a map of flat vectors: ``s_t = f(θ, s_{t-1}, x_t)`` and ``y_t = g(θ, s_t, x_t)``.

The forward-mode rules differentiate a cell's step with respect to its whole state ``s``
(:class:`~rnn_jax.cells.carry_vector.CarryVector`) and its parameters ``θ`` raveled into one
vector. ``θ`` are the parameters after the cell's ``hooks.prepare`` (``exprnn``'s matrix
exponential runs once per sequence): credit is formed for them and pulled back to the cell's
own parameters once per window by the driver (:mod:`rnn_jax.credit.forward`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rnn_jax.cells.base import Cell, output
from rnn_jax.cells.carry_vector import CarryVector


@dataclasses.dataclass(frozen=True)
class FlatStep:
    """``cell``'s step on one sequence, with flat state and parameters."""

    cell: Cell
    vector: CarryVector
    unravel: Callable[[jax.Array], dict]

    @classmethod
    def of(cls, cell: Cell, prepared: dict) -> tuple[FlatStep, jax.Array]:
        """The step of ``cell`` and the flat ``θ`` of its ``prepared`` parameters."""
        theta, unravel = ravel_pytree(prepared)
        carry = jax.eval_shape(lambda p: cell.initial_carry(p, ()), prepared)
        return cls(cell, CarryVector.of(carry, 0), unravel), theta

    @property
    def state_size(self) -> int:
        return self.vector.size

    def state(self, theta: jax.Array, s: jax.Array, x: jax.Array) -> jax.Array:
        """``s_t`` from ``s_{t-1}`` and the raw input ``x_t``."""
        params = self.unravel(theta)
        carry, _ = self.cell.step(params, self.vector.unflatten(s), self.cell.project_inputs(params, x))
        return self.vector.flatten(carry)

    def linearized(self, theta: jax.Array, s: jax.Array, x: jax.Array):
        """``(s_t, tangent, cotangent)`` from one evaluation of the step: ``tangent(dθ, ds)`` is
        its linear map ``I dθ + D ds`` (``jax.linearize``), ``cotangent(c)`` its transpose,
        ``(cᵀ I, cᵀ D)``. Every rule's update reads the step's Jacobians through these."""
        s_new, tangent = jax.linearize(lambda th, s_: self.state(th, s_, x), theta, s)
        return s_new, tangent, jax.linear_transpose(tangent, theta, s)

    def jacobians(self, theta: jax.Array, s: jax.Array, x: jax.Array):
        """``(s_t, D, I)``: the new state and the step's Jacobians ``D = ∂s_t/∂s_{t-1}``
        ``[S, S]`` and ``I = ∂s_t/∂θ`` ``[S, P]``, row by row from the transpose of one
        linearisation."""
        s_new, _, cotangent = self.linearized(theta, s, x)
        immediate, d = jax.vmap(cotangent)(jnp.eye(self.state_size, dtype=s.dtype))
        return s_new, d, immediate

    def output(self, theta: jax.Array, s: jax.Array, x: jax.Array) -> jax.Array:
        """``y_t``, what the next layer or the head reads, from the new state ``s_t``."""
        params = self.unravel(theta)
        return output(self.cell, params, self.vector.unflatten(s), self.cell.project_inputs(params, x))

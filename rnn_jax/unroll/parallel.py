"""The parallel loop: all states of a linear recurrence ``s_t = a_t ⊙ s_{t-1} + b_t`` by
``jax.lax.associative_scan`` (Blelloch 1990; Martin & Cundy 2018), O(log t) deep."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rnn_jax.cells.base import Cell, output
from rnn_jax.types import Params
from rnn_jax.unroll.masks import at_last_step, time_valid
from rnn_jax.unroll.options import Options


def _combine(earlier, later):
    """``s = a ⊙ s_prev + b`` composed: ``later ∘ earlier``."""
    (a1, b1), (a2, b2) = earlier, later
    return a1 * a2, a2 * b1 + b2


def _log_combine(earlier, later):
    """:func:`_combine` on ``(log a, log b)`` of positive coefficients (Feng et al. 2024)."""
    (la1, lb1), (la2, lb2) = earlier, later
    return la1 + la2, jnp.logaddexp(la2 + lb1, lb2)


def _states(cell: Cell, params: Params, x_proj, carry, probe):
    """Every state. The probe adds to ``b_t`` and the initial state enters as
    ``b_0 += a_0 ⊙ s_init``; in log space both are scanned in the linear domain and added
    (they may be zero or negative, and the recurrence superposes)."""
    linear = cell.linear_recurrence
    extra = None if probe is None else linear.to_state(probe)
    if linear.log_coefficients is None:
        a, b = linear.coefficients(params, x_proj)
        b = b.at[0].add(a[0] * linear.to_state(carry))
        return jax.lax.associative_scan(_combine, (a, b if extra is None else b + extra))[1]
    log_a, log_b = linear.log_coefficients(params, x_proj)
    states = jnp.exp(jax.lax.associative_scan(_log_combine, (log_a, log_b))[1])
    a = jnp.exp(log_a)
    start = a[0] * linear.to_state(carry)
    extra = jnp.zeros_like(states).at[0].set(start) if extra is None else extra.at[0].add(start)
    return states + jax.lax.associative_scan(_combine, (a, extra))[1]


def run(cell: Cell, params: Params, xs_t, carry, probe, lengths, backwards: bool, options: Options):
    """``(final_carry, hs)``, the values of the sequential loop. Padded steps need no masking
    inside the scan: they come after each sequence's valid steps, so the final carry is read
    at ``length - 1`` and their outputs are set to zero."""
    del options  # the parallel mode has no loop options
    if backwards:
        xs_t = jnp.flip(xs_t, 0)
        probe = None if probe is None else jnp.flip(probe, 0)
    x_proj = cell.project_inputs(params, xs_t)
    carries = cell.linear_recurrence.from_state(_states(cell, params, x_proj, carry, probe))
    hs = output(cell, params, carries, x_proj)
    if backwards:
        hs = jnp.flip(hs, 0)
    final = at_last_step(carries, lengths)
    if lengths is None:
        return final, hs
    return final, jnp.where(time_valid(lengths, xs_t.shape[0])[..., None], hs, jnp.zeros_like(hs))

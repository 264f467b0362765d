"""Real-time recurrent learning (Williams & Zipser 1989), and SnAp-n (Menick et al. 2021).

RTRL carries the influence matrix ``J_t = ∂s_t/∂θ`` (``[S, P]`` per sequence) forwards:
``J_t = D_t J_{t-1} + I_t`` with ``D_t = ∂s_t/∂s_{t-1}`` and ``I_t`` the immediate
``∂s_t/∂θ``; ``Σ_t c_t · J_t`` is then the exact gradient BPTT gives. Both Jacobians come from
the transpose of the step's linearisation applied to the ``S`` unit vectors, so any cell
works, at ``O(S² P)`` per step.

SnAp-n keeps only the entries of ``J`` where parameter ``p``'s computation reaches unit ``i``
within ``n`` steps (:meth:`~rnn_jax.credit.structure.Patterns.snap`) and drops the rest after
every step. Here the dropped entries are computed and zeroed (RTRL's cost, SnAp's values);
Menick et al.'s saving comes from sparse storage. On a diagonal recurrence (``indrnn``,
``mingru``) SnAp-1's pattern is closed under ``D`` and it is exact.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.credit.estimator import Estimator
from rnn_jax.credit.flat_step import FlatStep


def estimator(step: FlatStep, theta: jax.Array, mask: np.ndarray | None = None) -> Estimator:
    """RTRL for ``step``; with ``mask`` (``[S, P]`` bool), SnAp with that pattern."""
    shape = (step.state_size, theta.size)
    keep = None if mask is None else jnp.asarray(mask, theta.dtype)

    def update(theta, s, x, influence, key):
        del key
        s_new, d, immediate = step.jacobians(theta, s, x)
        influence = d @ influence + immediate
        return s_new, influence if keep is None else influence * keep

    return Estimator(init=lambda: jnp.zeros(shape, theta.dtype), update=update,
                     credit=lambda influence, c: c @ influence)

"""Unbiased online recurrent optimisation (Tallec & Ollivier 2018, Algorithm 1).

The influence ``∂s_t/∂θ`` is carried as a rank-one product ``s̃_t θ̃_tᵀ`` (``S + P`` numbers per
sequence). With random signs ``ν`` each step,

    s̃_t = ρ₀ D_t s̃_{t-1} + ρ₁ ν,        θ̃_t = θ̃_{t-1} / ρ₀ + νᵀ I_t / ρ₁,

``D_t s̃`` and ``νᵀ I_t`` from one linearisation of the step and its transpose, and
``ρ₀ = sqrt(‖θ̃‖ / ‖D_t s̃‖)``, ``ρ₁ = sqrt(‖νᵀ I_t‖ / ‖ν‖)`` balancing the two factors' norms
(variance reduction; :data:`EPSILON` keeps them finite at the start). ``E[s̃_t θ̃_tᵀ] = J_t``, so
the gradient ``Σ_t (c_t · s̃_t) θ̃_t`` is unbiased: its cross terms are odd in ``ν`` and
``ρ₁(ν) = ρ₁(−ν)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rnn_jax.credit.estimator import Estimator
from rnn_jax.credit.flat_step import FlatStep

EPSILON = 1e-7
"""Added to both norms of each ρ (Tallec & Ollivier add an ε for the same reason)."""


def estimator(step: FlatStep, theta: jax.Array) -> Estimator:
    """UORO for ``step``; the trace is ``(s̃[S], θ̃[P])``."""

    def update(theta, s, x, trace, key):
        s_tilde, theta_tilde = trace
        s_new, tangent, cotangent = step.linearized(theta, s, x)
        d_s = tangent(jnp.zeros_like(theta), s_tilde)
        nu = jax.random.rademacher(key, s_tilde.shape, s_tilde.dtype)
        nu_i, _ = cotangent(nu)
        rho0 = jnp.sqrt((jnp.linalg.norm(theta_tilde) + EPSILON) / (jnp.linalg.norm(d_s) + EPSILON))
        rho1 = jnp.sqrt((jnp.linalg.norm(nu_i) + EPSILON) / (jnp.linalg.norm(nu) + EPSILON))
        return s_new, (rho0 * d_s + rho1 * nu, theta_tilde / rho0 + nu_i / rho1)

    def init():
        return jnp.zeros(step.state_size, theta.dtype), jnp.zeros(theta.size, theta.dtype)

    return Estimator(init=init, update=update, credit=lambda trace, c: jnp.dot(c, trace[0]) * trace[1])

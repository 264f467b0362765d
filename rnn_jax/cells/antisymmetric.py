"""Antisymmetric RNN: a forward-Euler step of an ODE whose Jacobian has eigenvalues near the
imaginary axis::

    A = W - Wᵀ - γ I
    h' = h + ε tanh(A h + V x + b)                             (gated=False)
    h' = h + ε σ(A h + V_z x + b_z) ⊙ tanh(A h + V_h x + b_h)   (gated=True)

``W - Wᵀ`` is antisymmetric, so its eigenvalues are imaginary and the underlying ODE neither
forgets nor blows up; the diffusion ``γ`` moves them slightly into the left half-plane so
that the Euler step with size ``ε`` stays stable. The gated variant applies the same ``A``
in both gates, as the paper's equation (7).

No code of the authors' is public, so the cell follows the paper's equations; its
initialisation is ours: ``V, W ~ N(0, 1/i), N(0, 1/h)`` and zero biases (the paper draws
weights from zero-mean Gaussians whose variance it tunes). The defaults ``ε = 0.1``,
``γ = 0.01`` lie inside the grids the paper searched.

References:
    Chang, Chen, Haber & Chi 2019, "AntisymmetricRNN: a dynamical system view on recurrent
    neural networks", ICLR.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.cells import base


def antisymmetric_matrix(w: jax.Array, gamma: float) -> jax.Array:
    """``W - Wᵀ - γ I`` over the last two axes (any leading axes)."""
    return w - jnp.swapaxes(w, -1, -2) - gamma * jnp.broadcast_to(jnp.eye(w.shape[-1], dtype=w.dtype), w.shape)


def antisymmetric(*, epsilon: float = 0.1, gamma: float = 0.01, gated: bool = False) -> base.Cell:
    """An antisymmetric RNN cell.

    Args:
        epsilon: ε, the Euler step (> 0).
        gamma: γ, the diffusion (≥ 0).
        gated: the gated variant (an input gate ``σ(A h + V_z x + b_z)`` on the update).

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    epsilon = float(_checks.positive(epsilon, "epsilon"))
    gamma = float(_checks.number(gamma, "gamma", low=0.0))
    if not isinstance(gated, bool):
        raise TypeError(f"gated={gated!r} must be a bool")
    gates = 2 if gated else 1

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size)
        k_v, k_w = jax.random.split(key)
        return {"w_ih": draw(jax.random.normal, k_v, (gates * hidden_size, input_size), dtype=jnp.float32)
                / math.sqrt(input_size),
                "b_ih": jnp.zeros((gates * hidden_size,), jnp.float32),
                "w": draw(jax.random.normal, k_w, (hidden_size, hidden_size), dtype=jnp.float32) / math.sqrt(hidden_size)}

    def prepare(params):
        return {**params, "w_hh": antisymmetric_matrix(params["w"], gamma)}

    def after_matmul(params, h, x_t, r_t):
        del params
        if gated:
            z, u = jnp.split(x_t, 2, axis=-1)
            h = h + epsilon * jax.nn.sigmoid(z + r_t) * jnp.tanh(u + r_t)
        else:
            h = h + epsilon * jnp.tanh(x_t + r_t)
        return h, h

    def step(params, h, x_t):  # params prepared: w_hh = W - Wᵀ - γ I
        return after_matmul(params, h, x_t, base.linear(h, params["w_hh"]))

    return base.Cell(
        name="antisymmetric",
        init=init,
        initial_carry=base.zeros_sized_by("w"),
        project_inputs=base.project_all_biases,
        step=step,
        options=(("epsilon", epsilon), ("gamma", gamma), ("gated", gated)),
        split=base.SplitStep(after_matmul),
        hooks=base.Hooks(prepare=prepare, recurrent_matrix=lambda params: antisymmetric_matrix(params["w"], gamma)),
    )

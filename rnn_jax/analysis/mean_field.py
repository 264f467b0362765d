"""Mean-field signal propagation in a random tanh RNN at initialisation: how far back the
gradient reaches before it vanishes or explodes.

For ``h_t = tanh(z_t)``, ``z_t = W h_{t-1} + U x_t + b`` with ``W ~ N(0, σ_w²/N)``,
``b ~ N(0, σ_b²)`` and an input term of variance ``σ_x²`` per unit, the pre-activations of a
wide network are Gaussian with a variance that settles at the fixed point

    q* = σ_w² E[tanh(√q* z)²] + σ_b² + σ_x²,        z ~ N(0, 1),

and backpropagation multiplies the squared norm of ``∂L/∂h_t`` by

    χ = σ_w² E[tanh'(√q* z)²]

per step (the mean-field theory of Schoenholz et al. 2017, applied to recurrent networks by
Chen, Pennington & Schoenholz 2018). So ``‖∂L/∂h_t‖² ∝ χ^(T-t)``: the gradient's timescale is
``ξ = -1 / log χ`` steps (vanishing for χ < 1, exploding for χ > 1, infinite at χ = 1, the
critical line). The expectations are Gauss–Hermite sums; everything here is host numpy.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from rnn_jax import _checks


class MeanField(NamedTuple):
    """The fixed point and the gradient's timescale.

    Attributes:
        q: the pre-activations' variance at the fixed point, ``q*``.
        chi: ``χ``, the per-step factor of ``‖∂L/∂h_t‖²``.
        xi: ``ξ = -1 / log χ`` (``inf`` at ``χ = 1``; negative: the gradient explodes).
    """

    q: float
    chi: float
    xi: float


def tanh_rnn(sigma_w: float, sigma_b: float = 0.0, sigma_x: float = 0.0, *, points: int = 101,
             iterations: int = 10_000, tol: float = 1e-13) -> MeanField:
    """:class:`MeanField` of a tanh RNN with weight scale ``sigma_w`` (``W ~ N(0, σ_w²/N)``),
    bias scale ``sigma_b`` and input scale ``sigma_x`` (the standard deviation of ``(U x_t)_i``).

    Raises:
        ValueError: for a negative or non-finite scale, or ``sigma_w = 0``.
    """
    sigma_w = _checks.number(sigma_w, "sigma_w", low=0.0, low_open=True)
    sigma_b = _checks.number(sigma_b, "sigma_b", low=0.0)
    sigma_x = _checks.number(sigma_x, "sigma_x", low=0.0)
    z, weights = np.polynomial.hermite_e.hermegauss(points)
    weights = weights / weights.sum()  # E over z ~ N(0, 1)
    offset = sigma_b**2 + sigma_x**2
    q = 1.0
    for _ in range(iterations):
        new = sigma_w**2 * float(weights @ np.tanh(math.sqrt(q) * z) ** 2) + offset
        if abs(new - q) <= tol * max(1.0, q):
            q = new
            break
        q = new
    chi = sigma_w**2 * float(weights @ (1.0 - np.tanh(math.sqrt(q) * z) ** 2) ** 2)
    xi = math.inf if chi == 1.0 else -1.0 / math.log(chi)
    return MeanField(q, chi, xi)

"""Coupled oscillatory RNN (coRNN): a network of damped, driven nonlinear oscillators,
discretised with the authors' implicit-explicit (IMEX) step::

    z' = z + Δt (tanh(W y + 𝒲 z + V x + b) - γ y - ε z)
    y' = y + Δt z'

``y`` is the oscillators' position (the hidden state that the next layer, the readout and
probes see) and ``z`` their velocity; the carry is ``(y, z)``. ``γ`` (the restoring force) and
``ε`` (the damping) are fixed hyperparameters. The authors prove that the hidden states and
the gradients ‖∂y_T/∂y_t‖ stay bounded for every ``T``.

Layout, as the authors' ``coRNNCell`` (tk-rusch/coRNN ``adding/model.py``): one ``nn.Linear``
of ``cat(x, z, y)``, split here as ``w_ih [h, i]`` with its bias ``b_ih [h]``, and
``w_hh [h, 2h]`` acting on ``cat(z, y)``; all three are ``U(±1/sqrt(i + 2h))``, PyTorch's
default for that layer. ``tests/test_remedy_parity.py`` checks the cell against a PyTorch
statement of theirs, forward and gradient.

The cell has no single recurrent matrix (``hooks.recurrent_matrix`` is ``None``).

References:
    Rusch & Mishra 2021, "Coupled oscillatory recurrent neural network (coRNN): an accurate
    and (gradient) stable architecture for learning long time dependencies", ICLR.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells import base


def cornn(*, dt: float = 0.06, gamma: float = 66.0, epsilon: float = 15.0) -> base.Cell:
    """A coupled oscillatory RNN cell. The defaults are those of the authors' adding script.

    Args:
        dt: the time step Δt (> 0).
        gamma: γ, the oscillators' restoring force (≥ 0).
        epsilon: ε, their damping (≥ 0).

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``(y, z)``, each ``[*b, h]``, and
        ``hidden`` is ``y``.
    """
    dt = float(_checks.positive(dt, "dt"))
    gamma = float(_checks.number(gamma, "gamma", low=0.0))
    epsilon = float(_checks.number(epsilon, "epsilon", low=0.0))

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size)
        bound = 1.0 / math.sqrt(input_size + 2 * hidden_size)
        k_x, k_h, k_b = jax.random.split(key, 3)
        return {"w_ih": base.uniform(k_x, (hidden_size, input_size), bound),
                "w_hh": base.uniform(k_h, (hidden_size, 2 * hidden_size), bound),
                "b_ih": base.uniform(k_b, (hidden_size,), bound)}

    def step(params, carry, x_t):
        y, z = carry
        drive = jnp.tanh(x_t + base.linear(jnp.concatenate([z, y], axis=-1), params["w_hh"]))
        z = z + dt * (drive - gamma * y - epsilon * z)
        y = y + dt * z
        return (y, z), y

    def initial_carry(params, batch_shape):
        zeros = base.zeros_sized_by("b_ih")(params, batch_shape)
        return zeros, zeros

    return base.Cell(
        name="cornn",
        init=init,
        initial_carry=initial_carry,
        project_inputs=base.project_all_biases,
        step=step,
        hidden=lambda carry: carry[0],
        options=(("dt", dt), ("epsilon", epsilon), ("gamma", gamma)),
        hooks=base.Hooks(recurrent_matrix=None),
    )


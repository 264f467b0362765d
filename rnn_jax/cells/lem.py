"""Long Expressive Memory (LEM): two coupled states, each updated with its own learned,
input-dependent time step::

    Δt̄ = Δt σ(W₁ y + V₁ x + b₁)          Δt' = Δt σ(W₂ y + V₂ x + b₂)
    z' = (1 - Δt') ⊙ z + Δt' ⊙ tanh(W_y y + V_y x + b_y)
    y' = (1 - Δt̄) ⊙ y + Δt̄ ⊙ tanh(W_z z' + V_z x + b_z)

a discretisation of a multiscale ODE. ``y`` is the hidden state (what the next layer, the
readout and probes see); the carry is ``(y, z)``.

Layout, as the authors' ``LEMCell`` (tk-rusch/LEM ``src/adding/network.py``): ``w_ih [4h, i]``
and ``b_ih`` stack ``(V₁, V₂, V_z, V_y)`` (their ``inp2hid``), ``w_hh [3h, h]`` and ``b_hh``
stack ``(W₁, W₂, W_y)`` (``hid2hid``), and ``w_z [h, h]``, ``b_z`` are ``transform_z``. Every
weight and bias is ``U(±1/sqrt(h))``, as their ``reset_parameters``.
``tests/test_remedy_parity.py`` checks the cell against a PyTorch statement of theirs,
forward and gradient.

References:
    Rusch, Mishra, Erichson & Mahoney 2022, "Long expressive memory for sequence modeling",
    ICLR.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells import base


def lem(*, dt: float = 1.0) -> base.Cell:
    """A Long Expressive Memory cell.

    Args:
        dt: Δt, the largest time step (> 0; their default 1, their adding runs 0.0242).

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``(y, z)``, each ``[*b, h]``, and
        ``hidden`` is ``y``.
    """
    dt = float(_checks.positive(dt, "dt"))

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size)
        bound = 1.0 / math.sqrt(hidden_size)
        h = hidden_size
        shapes = {"w_ih": (4 * h, input_size), "b_ih": (4 * h,), "w_hh": (3 * h, h), "b_hh": (3 * h,),
                  "w_z": (h, h), "b_z": (h,)}
        keys = jax.random.split(key, len(shapes))
        return {name: base.uniform(k, shape, bound) for k, (name, shape) in zip(keys, shapes.items())}

    def step(params, carry, x_t):
        y, z = carry
        i_dt1, i_dt2, i_z, i_y = jnp.split(x_t, 4, axis=-1)
        h_dt1, h_dt2, h_y = jnp.split(base.add_bias(base.linear(y, params["w_hh"]), params["b_hh"]), 3, axis=-1)
        dt_bar = dt * jax.nn.sigmoid(i_dt1 + h_dt1)
        dt_z = dt * jax.nn.sigmoid(i_dt2 + h_dt2)
        z = (1.0 - dt_z) * z + dt_z * jnp.tanh(i_y + h_y)
        y = (1.0 - dt_bar) * y + dt_bar * jnp.tanh(base.add_bias(base.linear(z, params["w_z"]), params["b_z"]) + i_z)
        return (y, z), y

    def initial_carry(params, batch_shape):
        zeros = base.zeros_hidden(params, batch_shape)
        return zeros, zeros

    return base.Cell(
        name="lem",
        init=init,
        initial_carry=initial_carry,
        project_inputs=lambda params, xs: base.project_with_bias(params, xs, None),
        step=step,
        hidden=lambda carry: carry[0],
        options=(("dt", dt),),
    )

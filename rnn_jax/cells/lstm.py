"""Long short-term memory cell in PyTorch's gate order ``i, f, g, o``; carry ``(h, c)``.

    i = σ(x_i + W_hi h)    f = σ(x_f + W_hf h)    g = tanh(x_g + W_hg h)    o = σ(x_o + W_ho h)
    c' = f ⊙ c + i ⊙ g     h' = o ⊙ tanh(c')

where ``x_* = W_i* x + b_i* + b_h*`` is the hoisted input projection (both biases are folded
into it; the sum is the same as PyTorch's).

References:
    Hochreiter & Schmidhuber 1997, "Long short-term memory"; forget gate from Gers et al.
    2000. Equations and layout as ``torch.nn.LSTM`` (no peepholes, no projection).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.cells import base


def _initial_carry(params, batch_shape):
    h = base.zeros_hidden(params, batch_shape)
    return h, jnp.zeros_like(h)


def _after_matmul(params, carry, x_t, r_t):
    del params  # both biases are folded into x_t
    h, c = carry
    i, f, g, o = jnp.split(x_t + r_t, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h


def _step(params, carry, x_t):
    h, _ = carry
    return _after_matmul(params, carry, x_t, base.linear(h, params["w_hh"]))


def _hidden(carry):
    return carry[0]


def lstm(**init_options: Any) -> base.Cell:
    """An LSTM cell.

    Args:
        **init_options: defaults for ``init`` (see :mod:`rnn_jax.cells.initializers`), e.g.
            ``forget_bias=1.0`` or ``init="keras"``.

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``(h, c)``, each ``[*b, h]``.
    """
    return base.Cell(
        name="lstm",
        init=base.bound_init(4, init_options),
        initial_carry=_initial_carry,
        project_inputs=base.project_all_biases,
        step=_step,
        hidden=_hidden,
        options=tuple(sorted(init_options.items())),
        init_options=tuple(sorted(init_options)),
        split=base.SplitStep(_after_matmul, num_gates=4),
    )

"""Elman RNN cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, with tanh (default), relu, or
none (``"linear"``: the dense linear RNN of Zucchet & Orvieto 2024's teacher-student task).

References:
    Elman 1990, "Finding structure in time". PyTorch ``torch.nn.RNN`` (same equation and
    weight layout). The ``irnn`` cell is this cell with ``activation="relu"`` and the IRNN
    initialisation of Le, Jaitly & Hinton 2015.
"""

from __future__ import annotations

import enum
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells import base


class Activation(enum.StrEnum):
    TANH = "tanh"
    RELU = "relu"
    LINEAR = "linear"


def _activation(kind: Activation):
    match kind:
        case Activation.TANH:
            return jnp.tanh
        case Activation.RELU:
            return jax.nn.relu
        case Activation.LINEAR:
            return lambda x: x


def rnn(*, activation: str | Activation = Activation.TANH, **init_options: Any) -> base.Cell:
    """An Elman cell.

    Args:
        activation: ``"tanh"`` (default), ``"relu"`` or ``"linear"`` (no nonlinearity).
        **init_options: defaults for ``init`` (see :mod:`rnn_jax.cells.initializers`).

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    kind = _checks.choice(Activation, activation, "activation")
    act = _activation(kind)

    def after_matmul(params, h, x_t, r_t):
        del params, h  # both biases are folded into x_t
        h = act(x_t + r_t)
        return h, h

    def step(params, h, x_t):
        h = act(x_t + base.linear(h, params["w_hh"]))
        return h, h

    return base.Cell(
        name="rnn",
        init=base.bound_init(1, init_options),
        initial_carry=base.zeros_hidden,
        project_inputs=base.project_all_biases,
        step=step,
        options=tuple(sorted({"activation": kind.value, **init_options}.items())),
        init_options=tuple(sorted(init_options)),
        split=base.SplitStep(after_matmul),
    )


def irnn(**options: Any) -> base.Cell:
    """Le, Jaitly & Hinton 2015: a relu Elman cell with W_hh = I, zero biases, W_ih ~ N(0, 1e-3^2).
    Another preset (``init="arjovsky"``) changes the input weights and biases; W_hh stays the
    identity unless ``recurrent_init`` says otherwise."""
    options = {"activation": Activation.RELU, "init": "irnn", **options}
    options.setdefault("recurrent_init", "identity")
    return rnn(**options)._replace(name="irnn")

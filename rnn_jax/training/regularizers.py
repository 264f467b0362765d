"""Pascanu, Mikolov & Bengio 2013's regulariser Ω, which keeps the backpropagated error from
shrinking as it travels back in time.

With ``v_k = ∂E/∂h_k`` (the total derivative, through every later step) and the Jacobian
``∂h_k/∂h_{k-1}`` of one step,

    Ω = Σ_k [ ‖v_k ∂h_k/∂h_{k-1}‖² / ‖v_k‖² − 1 ]²

averaged over the sequences and the steps whose ``‖v_k‖² >= bound``. As in their code
(pascanur/trainingRNNs ``RNN.py``, which the paper's results came from): the ratio is of
squared norms (the paper's equation writes norms); ``v_k`` and the states are constants, so
Ω's gradient reaches only ``W_hh``, through its explicit product ``u_k W_hh`` with
``u_k = v_k ⊙ f'(pre-activation)``; and it is defined for the one-gate RNN (tanh or relu).
Training adds ``α ∇Ω`` to the loss gradient before clipping (``TrainConfig.omega = α``;
they used α = 2 with norm clipping at 1: "SGD-CR").

References:
    Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural
    networks", ICML, §3.3, eq. (9).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rnn_jax.cells.base import Cell, linear
from rnn_jax.types import Batch
from rnn_jax.unroll import unroll

BOUND = 1e-20  # their state['bound']: steps with ‖∂E/∂h_k‖² below it are left out


def supports(cell: Cell) -> bool:
    """Whether Ω is defined for ``cell``: one gate, a step cut at ``W_hh`` (rnn, irnn)."""
    return cell.split is not None and cell.split.num_gates == 1 and "w_hh" in jax.eval_shape(
        lambda k: cell.init(k, 1, 2), jax.random.key(0))


def omega(cell: Cell, layer_params, batch: Batch, hidden_grads: jax.Array, *, bound: float = BOUND):
    """``(Ω, ∂Ω/∂w_hh)`` of one unidirectional layer.

    Args:
        cell: the layer's cell (see :func:`supports`).
        layer_params: its parameters (``w_hh`` among them).
        batch: the batch whose inputs the layer reads (the first layer's: ``batch.inputs``).
        hidden_grads: ``[t, b, h]`` ``∂E/∂h_t`` (the gradient of the loss with respect to the
            layer's probe, :func:`rnn_jax.unroll`'s ``probe``).
        bound: steps whose ``‖∂E/∂h_t‖²`` is below it are left out.

    Returns:
        The value and its gradient with respect to ``layer_params["w_hh"]``.
    """
    stop = jax.lax.stop_gradient
    params = stop(layer_params)
    _, hs = unroll(cell, params, batch.inputs, lengths=batch.lengths)  # [b, t, h]
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:, :1]), hs[:, :-1]], axis=1)
    x_proj = cell.project_inputs(params, batch.inputs)
    v = jnp.swapaxes(stop(hidden_grads), 0, 1)  # [b, t, h]

    def output(r):
        return cell.split.after_matmul(params, h_prev, x_proj, r)[1]

    _, pullback = jax.vjp(output, linear(h_prev, params["w_hh"]))
    (u,) = pullback(v)  # v ⊙ f'(pre-activation)
    u = stop(u)
    v_sq = jnp.sum(v**2, axis=-1)  # [b, t]
    valid = v_sq >= bound

    def value(w_hh):
        ratio = jnp.sum(linear(u, w_hh.T) ** 2, axis=-1) / jnp.where(valid, v_sq, 1.0)
        terms = jnp.where(valid, (ratio - 1.0) ** 2, 0.0)
        return jnp.sum(jnp.mean(terms, axis=0)) / jnp.maximum(jnp.sum(jnp.mean(valid.astype(v_sq.dtype), axis=0)), 1e-12)

    return jax.value_and_grad(value)(layer_params["w_hh"])

"""Gated recurrent unit, gate order ``r, z, n``, in both published variants.

Reset-after (default; PyTorch ``torch.nn.GRU``, cuDNN, Keras ``reset_after=True``)::

    r = σ(x_r + W_hr h + b_hr)    z = σ(x_z + W_hz h + b_hz)
    n = tanh(x_n + r ⊙ (W_hn h + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h  =  n + z ⊙ (h - n)

Reset-before (``reset_after=False``; Cho et al. 2014, Keras ``reset_after=False``)::

    n = tanh(x_n + W_hn (r ⊙ h) + b_hn)

with ``x_* = W_i* x + b_i*`` the hoisted input projection. Every part of ``b_hh`` that is
not multiplied by ``r`` is folded into that projection.

References:
    Cho et al. 2014, "Learning phrase representations using RNN encoder-decoder"; the
    reset-after form is the one of cuDNN and PyTorch.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.cells import base


def _split3(x):
    return jnp.split(x, 3, axis=-1)


def gru(*, reset_after: bool = True, **init_options: Any) -> base.Cell:
    """A GRU cell.

    Args:
        reset_after: ``True`` (default) applies the reset gate after the recurrent matmul
            (PyTorch/cuDNN); ``False`` applies it to ``h`` before it (Cho et al. 2014).
        **init_options: defaults for ``init`` (see :mod:`rnn_jax.cells.initializers`).

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    if not isinstance(reset_after, bool):
        raise TypeError(f"reset_after={reset_after!r} must be a bool")

    def project_inputs(params, xs):
        b_hh = params.get("b_hh")
        if b_hh is not None and reset_after:
            h = base.hidden_size(params)
            b_hh = jnp.concatenate([b_hh[: 2 * h], jnp.zeros_like(b_hh[2 * h :])])
        return base.project_with_bias(params, xs, b_hh)

    def after_matmul(params, h, x_t, r_t):  # reset-after
        x_r, x_z, x_n = _split3(x_t)
        h_r, h_z, h_n = _split3(r_t)
        if "b_hh" in params:
            h_n = base.add_bias(h_n, params["b_hh"][2 * h.shape[-1] :])
        r = jax.nn.sigmoid(x_r + h_r)
        z = jax.nn.sigmoid(x_z + h_z)
        n = jnp.tanh(x_n + r * h_n)
        h = n + z * (h - n)
        return h, h

    def step_reset_after(params, h, x_t):
        return after_matmul(params, h, x_t, base.linear(h, params["w_hh"]))

    def step_reset_before(params, h, x_t):
        size = base.hidden_size(params)
        w_hh = params["w_hh"]
        x_rz, x_n = x_t[..., : 2 * size], x_t[..., 2 * size :]
        r, z = jnp.split(jax.nn.sigmoid(x_rz + base.linear(h, w_hh[: 2 * size])), 2, axis=-1)
        n = jnp.tanh(x_n + base.linear(r * h, w_hh[2 * size :]))
        h = n + z * (h - n)
        return h, h

    # reset-before applies w_hh twice (to h, then to r ⊙ h): it has no single cut
    split = base.SplitStep(after_matmul, num_gates=3, uses=("b_hh",), additive_gates=2) if reset_after else None
    return base.Cell(
        name="gru",
        init=base.bound_init(3, init_options, gru_reset_after=reset_after),
        initial_carry=base.zeros_hidden,
        project_inputs=project_inputs,
        step=step_reset_after if reset_after else step_reset_before,
        options=tuple(sorted({"reset_after": reset_after, **init_options}.items())),
        init_options=tuple(sorted(init_options)),
        split=split,
    )

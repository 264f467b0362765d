"""Independently recurrent neural network (IndRNN): each unit recurs only on itself::

    h' = relu(W x + b + u ⊙ h)

``u`` (``params["u"]``, ``[h]``) is a vector, so the recurrent Jacobian is diagonal and
∂h_T/∂h_t is a product of ``u_j`` over the steps where unit ``j`` is active: it neither
vanishes nor explodes while ``|u_j|`` stays near 1. The authors keep it there by clipping
``u`` to ``|u| ≤ MAG^{1/T}`` before every optimiser step (the gradient through ``T`` steps
then grows at most ``MAG``-fold). Here that is the cell's ``hooks.constrain``, which the
trainer applies after every update and to the initial parameters; the bound belongs to a
sequence length, so a cell made with ``seq_len=T`` refuses longer sequences.

Initialisation, from the authors' adding script (Sunnydreamrain/IndRNN_Theano_Lasagne
``adding/adding.py``): ``W ~ N(0, 0.001²)``, ``b = 0``, and ``u ~ U[0, MAG^{1/T}]``
(``recurrent_init="uniform"``, their first layer) or ``U[MAG^{-1/T}, MAG^{1/T}]``
(``"near_one"``, their last layer, which only needs long memory). Without ``seq_len``,
``u ~ U[0, 1]`` and nothing is clipped (their PyTorch default). ``tests/test_remedy_parity.py``
checks the step against their PyTorch ``IndRNNCell_onlyrecurrent``.

Their Lasagne layers also clip, at every step, the gradient that reaches the pre-activation
``W x + b + u ⊙ h`` element-wise (Lasagne's ``grad_clipping``, 10 in their adding script):
``grad_clip=10``. It changes only the backward pass, which forward-mode rules (RTRL, UORO,
SnAp, the diagonal rule) and Newton's unroll cannot express, so they refuse it; Jacobians and
Lyapunov spectra analyse the map without it (``hooks.forward_map``).

References:
    Li, Li, Cook, Zhu & Gao 2018, "Independently recurrent neural network (IndRNN): building a
    longer and deeper RNN", CVPR.
"""

from __future__ import annotations

import enum
import functools

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.cells import base


class RecurrentInit(enum.StrEnum):
    UNIFORM = "uniform"
    NEAR_ONE = "near_one"


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def clip_gradient(x: jax.Array, bound: float) -> jax.Array:
    """``x``, whose cotangent is clipped element-wise to ``[-bound, bound]`` (Theano's
    ``grad_clip``)."""
    return x


def _clip_forward(x, bound):
    return x, None


def _clip_backward(bound, _, cotangent):
    return (jnp.clip(cotangent, -bound, bound),)


clip_gradient.defvjp(_clip_forward, _clip_backward)


def indrnn(*, seq_len: int | None = None, magnitude: float = 2.0, recurrent_init: str | RecurrentInit = "uniform",
           input_std: float = 0.001, grad_clip: float | None = None) -> base.Cell:
    """An IndRNN cell (relu).

    Args:
        seq_len: the sequence length ``T`` the bound ``|u| ≤ magnitude^{1/T}`` is made for;
            ``None``: no bound. Longer sequences are refused.
        magnitude: ``MAG`` (> 1; theirs: 2).
        recurrent_init: ``"uniform"`` (``u ~ U[0, bound]``) or ``"near_one"``
            (``U[1/bound, bound]``; needs ``seq_len``).
        input_std: the standard deviation of ``W``'s normal initialisation (> 0).
        grad_clip: clip the gradient reaching the pre-activation at every step to
            ``±grad_clip`` (> 0; Lasagne's ``grad_clipping``); ``None``: no clipping.

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    if seq_len is not None:
        seq_len = _checks.positive_int(seq_len, "seq_len")
    magnitude = float(_checks.number(magnitude, "magnitude", low=1.0, low_open=True))
    kind = _checks.choice(RecurrentInit, recurrent_init, "recurrent_init")
    if kind is RecurrentInit.NEAR_ONE and seq_len is None:
        raise ValueError("recurrent_init='near_one' draws u in [MAG^(-1/T), MAG^(1/T)]: it needs seq_len=T")
    input_std = float(_checks.positive(input_std, "input_std"))
    if grad_clip is not None:
        grad_clip = float(_checks.positive(grad_clip, "grad_clip"))
    bound = 1.0 if seq_len is None else magnitude ** (1.0 / seq_len)

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size)
        k_w, k_u = jax.random.split(key)
        low = 1.0 / bound if kind is RecurrentInit.NEAR_ONE else 0.0
        return {"w_ih": draw(jax.random.normal, k_w, (hidden_size, input_size), dtype=jnp.float32) * input_std,
                "b_ih": jnp.zeros((hidden_size,), jnp.float32),
                "u": jax.random.uniform(k_u, (hidden_size,), jnp.float32, low, bound)}

    def step(params, h, x_t):
        pre = x_t + jnp.broadcast_to(params["u"], h.shape) * h
        h = jax.nn.relu(pre if grad_clip is None else clip_gradient(pre, grad_clip))
        return h, h

    def constrain(params):
        return {**params, "u": jnp.clip(params["u"], -bound, bound)}

    def check_length(steps: int) -> None:
        if steps > seq_len:
            raise ValueError(f"indrnn was made with seq_len={seq_len} (|u| ≤ {magnitude:g}^(1/{seq_len})); "
                             f"got sequences of {steps} steps: make it with seq_len={steps}")

    return base.Cell(
        name="indrnn",
        init=init,
        initial_carry=base.zeros_sized_by("u"),
        project_inputs=base.project_all_biases,
        step=step,
        options=(("grad_clip", grad_clip), ("input_std", input_std), ("magnitude", magnitude),
                 ("recurrent_init", kind.value), ("seq_len", seq_len)),
        init_options=("input_std", "recurrent_init"),
        hooks=base.Hooks(recurrent_matrix=lambda params: jnp.vectorize(jnp.diag, signature="(n)->(n,n)")(params["u"]),
                         constrain=None if seq_len is None else constrain,
                         check_length=None if seq_len is None else check_length,
                         forward_map=None if grad_clip is None else functools.partial(
                             indrnn, seq_len=seq_len, magnitude=magnitude, recurrent_init=kind, input_std=input_std)),
    )

"""Orthogonal RNN with the exponential parameterisation and modReLU (expRNN)::

    W_hh = expm(A - Aᵀ)                  (orthogonal for every A: the exponential of a
                                          skew-symmetric matrix)
    h' = modReLU(W_ih x + W_hh h)       modReLU(z) = sign(z) ⊙ relu(|z| + b)

``A`` (``params["a"]``, ``[h, h]``) is the free parameter, so any optimiser step keeps
``W_hh`` orthogonal: its eigenvalues stay on the unit circle and ‖∂h_T/∂h_t‖ can neither
vanish nor explode through the linear part. ``W_hh`` is computed once per sequence
(:attr:`Cell.prepare`), not once per step. ``b`` (``params["b"]``) is modReLU's bias.

Initialisation (``init=``), as in the authors' code: ``A`` is block-diagonal with 2×2 blocks
``[[0, θ], [-θ, 0]]`` (rotations by ``θ``):

* ``"henaff"`` (default): ``θ ~ U[-π, π]`` (Henaff, Szlam & LeCun 2016);
* ``"cayley"``: ``θ = -sqrt((1 - cos s) / (1 + cos s))``, ``s ~ U[0, π/2]`` (Helfrich et al. 2018).

``W_ih ~ N(0, 2 / i)`` (Kaiming, relu gain), no input bias, ``b ~ U[-0.01, 0.01]``.

References:
    Lezcano-Casado & Martínez-Rubio 2019, "Cheap orthogonal constraints in neural networks:
    a simple parametrization of the orthogonal and unitary group", ICML. Arjovsky, Shah &
    Bengio 2016, "Unitary evolution recurrent neural networks" (modReLU, the unitary line).
"""

from __future__ import annotations

import enum
import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.cells import base


class SkewInit(enum.StrEnum):
    HENAFF = "henaff"
    CAYLEY = "cayley"


def orthogonal_from_skew(a: jax.Array) -> jax.Array:
    """``expm(A - Aᵀ)`` over the last two axes (any leading axes)."""
    return jax.scipy.linalg.expm(a - jnp.swapaxes(a, -1, -2))


def modrelu(z: jax.Array, b: jax.Array) -> jax.Array:
    """``sign(z) ⊙ relu(|z| + b)`` (Arjovsky et al. 2016, real case)."""
    return jnp.sign(z) * jax.nn.relu(jnp.abs(z) + b)


def rotation_angles(key, kind: SkewInit, count: int) -> jax.Array:
    """``count`` angles of the 2×2 rotation blocks that initialise a skew-symmetric ``A``."""
    match kind:
        case SkewInit.HENAFF:
            return jax.random.uniform(key, (count,), jnp.float32, -math.pi, math.pi)
        case SkewInit.CAYLEY:
            s = jax.random.uniform(key, (count,), jnp.float32, 0.0, math.pi / 2)
            return -jnp.sqrt((1.0 - jnp.cos(s)) / (1.0 + jnp.cos(s)))


def rotation_blocks(key, kind: SkewInit, hidden_size: int) -> jax.Array:
    """``[h, h]``, zero but for the superdiagonal entries ``(2k, 2k+1)``: the upper half of a
    block-diagonal skew-symmetric matrix of 2×2 rotation blocks (angles from ``kind``)."""
    angles = rotation_angles(key, kind, hidden_size // 2)
    return jnp.diag(jnp.zeros((hidden_size - 1,), jnp.float32).at[::2].set(angles), k=1)


def modrelu_after_matmul(params, h, x_t, r_t):
    """``h' = modReLU(x_t + r_t)`` with modReLU's bias ``params["b"]``: the step of an
    orthogonal RNN after its recurrent matmul ``r_t = W_hh h`` (exprnn, scornn)."""
    h = modrelu(x_t + r_t, jnp.broadcast_to(params["b"], h.shape))
    return h, h


def modrelu_step(params, h, x_t):
    """``h' = modReLU(x_t + W_hh h)`` for prepared ``params`` (``w_hh`` computed by ``prepare``)."""
    return modrelu_after_matmul(params, h, x_t, base.linear(h, params["w_hh"]))


def exprnn(*, init: str | SkewInit = SkewInit.HENAFF) -> base.Cell:
    """An orthogonal RNN cell, ``W_hh = expm(A - Aᵀ)``, with modReLU.

    Args:
        init: ``"henaff"`` (default) or ``"cayley"``, the initialisation of ``A``.

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    kind = _checks.choice(SkewInit, init, "init")

    def init_params(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size)
        k_in, k_a, k_b = jax.random.split(key, 3)
        return {
            "w_ih": draw(jax.random.normal, k_in, (hidden_size, input_size), dtype=jnp.float32) * math.sqrt(2.0 / input_size),
            "a": rotation_blocks(k_a, kind, hidden_size),
            "b": jax.random.uniform(k_b, (hidden_size,), jnp.float32, -0.01, 0.01),
        }

    def prepare(params):
        return {**params, "w_hh": orthogonal_from_skew(params["a"])}

    return base.Cell(
        name="exprnn",
        init=init_params,
        initial_carry=base.zeros_sized_by("a"),
        project_inputs=base.project_all_biases,  # no biases: xs @ w_ih.T
        step=modrelu_step,  # params prepared: w_hh = expm(A - Aᵀ)
        options=(("init", kind.value),),
        init_options=("init",),
        split=base.SplitStep(modrelu_after_matmul, uses=("b",)),
        hooks=base.Hooks(prepare=prepare, recurrent_matrix=lambda params: orthogonal_from_skew(params["a"])),
    )

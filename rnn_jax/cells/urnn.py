"""Unitary evolution RNN (uRNN): a complex state under a product of cheap unitary maps::

    W = D₃ R₂ F⁻¹ D₂ Π R₁ F D₁
    h' = modReLU(W h + V x)          modReLU(z) = z · relu(|z| + b) / (|z| + 1e-5)

on ``n`` complex units. ``Dₖ = diag(exp(i θₖ))`` are diagonal phases (``params["theta"]``,
``[3, n]``), ``F`` the unitary DFT (``norm="ortho"``), ``Rₖ`` complex reflections
(``params["reflection"]``, ``[2, 2n]`` as ``[Re v | Im v]``) and ``Π`` a fixed permutation.
Every factor is unitary, so ``W`` is, for every parameter value: ‖∂h_T/∂h_t‖ can neither
vanish nor explode through the linear part, and a step costs O(n log n).

As in the authors' code (amarshah/complex_RNN ``models.py``), and checked against a
statement of it in ``tests/test_remedy_parity.py``:

* the state is carried as ``2n`` reals ``[Re h | Im h]``, so ``hidden_size`` is ``2n`` and
  must be even (as for :func:`~rnn_jax.cells.lru.lru`): the paper's "128 hidden units" are
  ``hidden_size=256``. Probes and Lyapunov exponents see this real view;
* a reflection is ``z - 2 v̄ (vᵀ z) / ‖v‖²`` (their ``times_reflection``; unitary);
* ``Π`` is ``numpy.random.RandomState(permutation_seed).permutation(n)``, fixed and not
  trained (theirs: ``np.random.permutation`` after ``np.random.seed(1234)``);
* ``V x`` has no bias; ``V`` and the reflections are Glorot-uniform, ``θ ~ U[-π, π]`` and
  modReLU's bias ``b ~ U[-0.01, 0.01]``.

One difference: their initial state ``h_0`` is a trained parameter (``U[±sqrt(3/(2n))]``);
here it is zero, as for every cell of the :class:`~rnn_jax.cells.base.Cell` contract.

The paper trains every parameter with the same RMSProp (lr 1e-3) and no clipping. To give
the unitary parameters their own rate, give ``theta`` and ``reflection`` their own
transformation with ``optax.partition`` (``--lr-scales`` in the experiments).

References:
    Arjovsky, Shah & Bengio 2016, "Unitary evolution recurrent neural networks", ICML.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import _checks
from rnn_jax.cells import base


def reflect(z: jax.Array, v: jax.Array) -> jax.Array:
    """``z - 2 v̄ (vᵀ z) / ‖v‖²`` for ``z[..., n]`` complex and ``v = [Re | Im]`` (``[2n]``)."""
    vc = jnp.broadcast_to(base.to_complex(v), z.shape)
    vz = jnp.broadcast_to(jnp.sum(vc * z, axis=-1, keepdims=True), z.shape)
    return z - (2.0 / jnp.sum(v * v)).astype(z.dtype) * jnp.conj(vc) * vz


def permutation(n: int, seed: int) -> np.ndarray:
    """The fixed permutation ``Π`` of ``n`` units (a NumPy array: a constant of the program)."""
    return np.random.RandomState(seed).permutation(n)


def unitary(params, z: jax.Array, seed: int) -> jax.Array:
    """``W z = D₃ R₂ F⁻¹ D₂ Π R₁ F D₁ z`` for ``z[..., n]`` complex."""
    theta, reflection = params["theta"], params["reflection"]
    phase = jnp.exp(jax.lax.complex(jnp.zeros_like(theta), theta))  # [3, n]
    z = z * jnp.broadcast_to(phase[0], z.shape)
    z = reflect(jnp.fft.fft(z, norm="ortho"), reflection[0])
    z = z[..., permutation(z.shape[-1], seed)] * jnp.broadcast_to(phase[1], z.shape)
    z = reflect(jnp.fft.ifft(z, norm="ortho"), reflection[1])
    return z * jnp.broadcast_to(phase[2], z.shape)


def complex_modrelu(z: jax.Array, b: jax.Array) -> jax.Array:
    """``z · relu(|z| + b) / (|z| + 1e-5)`` for ``z = [Re | Im]`` (``[..., 2n]``), ``b[n]``."""
    re, im = jnp.split(z, 2, axis=-1)
    modulus = jnp.sqrt(re * re + im * im)
    scale = jax.nn.relu(modulus + jnp.broadcast_to(b, modulus.shape)) / (modulus + 1e-5)
    return z * jnp.concatenate([scale, scale], axis=-1)


def _glorot(key, shape) -> jax.Array:
    return base.uniform(key, shape, math.sqrt(6.0 / sum(shape)))


def urnn(*, permutation_seed: int = 1234) -> base.Cell:
    """A unitary evolution RNN cell (Arjovsky, Shah & Bengio 2016).

    Args:
        permutation_seed: the NumPy seed of the fixed permutation ``Π`` (default: theirs).

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``[Re h | Im h]``, ``[*b, 2n]``.
    """
    seed = _checks.nonneg_int(permutation_seed, "permutation_seed")

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size, complex_state="urnn: its state is h/2 complex units")
        n = hidden_size // 2
        k_v, k_b, k_r, k_t = jax.random.split(key, 4)
        return {
            "w_ih": _glorot(k_v, (hidden_size, input_size)),
            "b": jax.random.uniform(k_b, (n,), jnp.float32, -0.01, 0.01),
            "reflection": _glorot(k_r, (2, hidden_size)),
            "theta": jax.random.uniform(k_t, (3, n), jnp.float32, -math.pi, math.pi),
        }

    def step(params, h, x_t):
        r = base.to_real(unitary(params, base.to_complex(h), seed))
        h = complex_modrelu(r + x_t, params["b"])
        return h, h

    def one_matrix(params):
        rows = unitary(params, jnp.eye(params["theta"].shape[-1], dtype=jnp.complex64), seed)  # row j: W e_j
        return rows.T

    def recurrent_matrix(params):  # W [..., n, n], over any leading (stacked) axes of the parameters
        lead = params["theta"].shape[:-2]
        flat = jax.tree.map(lambda p: p.reshape(-1, *p.shape[len(lead):]), params)
        matrices = jax.vmap(one_matrix)(flat)
        return matrices.reshape(*lead, *matrices.shape[-2:])

    return base.Cell(
        name="urnn",
        init=init,
        initial_carry=lambda params, batch_shape: jnp.zeros((*batch_shape, 2 * params["b"].shape[-1]), params["b"].dtype),
        project_inputs=base.project_all_biases,  # no biases: xs @ w_ih.T
        step=step,
        options=(("permutation_seed", seed),),
        hooks=base.Hooks(recurrent_matrix=recurrent_matrix),
    )

"""Scaled Cayley orthogonal RNN (scoRNN)::

    W = (I + A)⁻¹ (I - A) D              (A skew-symmetric, D = diag(±1) fixed)
    h' = modReLU(x Uᵀ + h W)             modReLU(z) = sign(z) ⊙ relu(|z| + b)

``W`` acts on the row state from the right, as in the authors' cell (SpartinStuff/scoRNN
``scoRNN.py``: ``res = inputs @ U + state @ W``), so their ``A`` and ``D`` give their states
as they are; in PyTorch's layout the recurrent weight is ``w_hh = Wᵀ`` (``h' = … + h w_hhᵀ``),
which is what :attr:`Hooks.prepare` stores and ``recurrent_matrix`` returns.

The Cayley transform of a skew-symmetric ``A`` is orthogonal, but cannot have eigenvalue -1;
the fixed diagonal ``D`` with ``negative_eigenvalues`` entries -1 (and the rest +1) reaches
the orthogonal matrices that need them. ``W`` is computed once per sequence
(:attr:`Hooks.prepare`).

The update rule for ``A`` is the authors' (SpartinStuff/scoRNN ``scoRNN_copying.py``,
``Cayley_Transform_Deriv``): from the gradient ``G = ∂L/∂W`` they form
``V = (I + A)⁻ᵀ G (D + Wᵀ)`` and step ``A`` along ``Vᵀ - V``, a skew-symmetric direction, with
its own optimiser and learning rate. Here the gradient that reaches ``params["a"]`` *is*
``Vᵀ - V`` (a custom VJP on ``A``), so any optax optimiser steps ``A`` as theirs does and keeps
it skew-symmetric; give ``A`` its own rate with ``optax.partition`` (``--lr-scales a ...``; theirs:
RMSProp 1e-4 for ``A`` and 1e-3 for the rest on copy memory, ``a=0.1``). Note that
``Vᵀ - V`` is twice the gradient of ``L`` along skew-symmetric directions of ``A``.
``tests/test_remedy_parity.py`` checks both against a statement of their code.

Initialisation, as theirs: ``A`` block-diagonal with 2×2 blocks ``[[0, s], [-s, 0]]``,
``s = -sqrt((1 - cos θ) / (1 + cos θ))``, ``θ ~ U[0, π/2]``; ``U ~ U[±0.01]``; ``b = 0``.

References:
    Helfrich, Willmott & Ye 2018, "Orthogonal recurrent neural networks with scaled Cayley
    transform", ICML.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells import base
from rnn_jax.cells.exprnn import SkewInit, modrelu_after_matmul, modrelu_step, rotation_blocks


@jax.custom_vjp
def skew_gradient(a: jax.Array) -> jax.Array:
    """``a`` itself; the gradient it passes back is ``G - Gᵀ`` for an incoming ``G``."""
    return a


skew_gradient.defvjp(lambda a: (a, None), lambda _, g: (g - jnp.swapaxes(g, -1, -2),))


def scaling(hidden_size: int, negative_eigenvalues: int) -> jax.Array:
    """The diagonal of ``D``: ``hidden_size - negative_eigenvalues`` ones, then -1s."""
    return jnp.concatenate([jnp.ones(hidden_size - negative_eigenvalues), -jnp.ones(negative_eigenvalues)])


def scaled_cayley(a: jax.Array, negative_eigenvalues: int) -> jax.Array:
    """``W = (I + A)⁻¹ (I - A) D`` over the last two axes (any leading axes)."""
    eye = jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)
    d = scaling(a.shape[-1], negative_eigenvalues).astype(a.dtype)
    return jnp.linalg.solve(eye + a, eye - a) * jnp.broadcast_to(d, a.shape)


def recurrent_weight(a: jax.Array, negative_eigenvalues: int) -> jax.Array:
    """``w_hh = Wᵀ``: the scaled Cayley matrix in PyTorch's layout, so that ``h w_hhᵀ = h W``
    as the authors' ``state @ W``."""
    return jnp.swapaxes(scaled_cayley(a, negative_eigenvalues), -1, -2)


def scornn(*, negative_eigenvalues: int = 0, authors_update: bool = True) -> base.Cell:
    """A scaled Cayley orthogonal RNN cell.

    Args:
        negative_eigenvalues: how many entries of ``D`` are -1 (≤ ``hidden_size``; theirs on
            copy memory: half of them, 95 of 190).
        authors_update: ``params["a"]`` receives the authors' direction ``Vᵀ - V`` (default).
            ``False``: ``A = (a - aᵀ)/2``, so ``a`` receives the true gradient of the loss,
            ``(Vᵀ - V)/2`` (what finite differences see); ``a`` stays skew-symmetric either way.

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    negatives = _checks.nonneg_int(negative_eigenvalues, "negative_eigenvalues")
    if not isinstance(authors_update, bool):
        raise TypeError(f"authors_update={authors_update!r} must be a bool")

    def skew(a):
        return skew_gradient(a) if authors_update else 0.5 * (a - jnp.swapaxes(a, -1, -2))

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size)
        if negatives > hidden_size:
            raise ValueError(f"negative_eigenvalues={negatives} must be ≤ hidden_size={hidden_size}")
        k_u, k_a = jax.random.split(key)
        a = rotation_blocks(k_a, SkewInit.CAYLEY, hidden_size)
        return {"w_ih": base.uniform(k_u, (hidden_size, input_size), 0.01),
                "a": a - a.T,
                "b": jnp.zeros((hidden_size,), jnp.float32)}

    def prepare(params):
        return {**params, "w_hh": recurrent_weight(skew(params["a"]), negatives)}

    return base.Cell(
        name="scornn",
        init=init,
        initial_carry=base.zeros_sized_by("a"),
        project_inputs=base.project_all_biases,  # no biases: xs @ w_ih.T
        step=modrelu_step,  # params prepared: w_hh = ((I + A)⁻¹ (I - A) D)ᵀ
        options=(("authors_update", authors_update), ("negative_eigenvalues", negatives)),
        split=base.SplitStep(modrelu_after_matmul, uses=("b",)),
        hooks=base.Hooks(prepare=prepare, recurrent_matrix=lambda params: prepare(params)["w_hh"]),
    )

"""A cell's carry as one state vector per sequence, and back.

The dynamics tools (Jacobians of the step, Lyapunov spectra) and Newton's method over the
trajectory see a step as ``s_t = f(s_{t-1}, x_t)`` on a vector ``s``; a carry is a pytree
(the LSTM's ``(h, c)``, a Flax LSTM's ``(c, h)``). :class:`CarryVector` concatenates the
leaves' trailing axes, and splits them again.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class CarryVector:
    """How a carry with ``batch_ndim`` leading batch axes maps to ``[*b, n]`` and back (hashable)."""

    tree: Any
    shapes: tuple[tuple[int, ...], ...]  # each leaf's shape after the batch axes

    @classmethod
    def of(cls, carry, batch_ndim: int) -> CarryVector:
        leaves, tree = jax.tree.flatten(carry)
        return cls(tree, tuple(tuple(leaf.shape[batch_ndim:]) for leaf in leaves))

    @classmethod
    def state_size(cls, cell, params) -> int:
        """``n`` of ``cell``'s carry for ``params`` (or their shapes), computing nothing."""
        return cls.of(jax.eval_shape(lambda p: cell.initial_carry(p, ()), params), 0).size

    @property
    def size(self) -> int:
        """``n``, the state vector's length."""
        return sum(math.prod(s) for s in self.shapes)

    def flatten(self, carry) -> jax.Array:
        """``[..., n]`` from a carry whose leaves are ``[..., *k]`` (any leading axes)."""
        leaves = jax.tree.leaves(carry)
        lead = leaves[0].shape[: leaves[0].ndim - len(self.shapes[0])]
        return jnp.concatenate([leaf.reshape(*lead, -1) for leaf in leaves], axis=-1)

    def unflatten(self, state: jax.Array):
        """The carry of a ``[..., n]`` state."""
        cuts, total = [], 0
        for shape in self.shapes[:-1]:
            total += math.prod(shape)
            cuts.append(total)
        parts = jnp.split(state, cuts, axis=-1)
        lead = state.shape[:-1]
        return jax.tree.unflatten(self.tree, [p.reshape(*lead, *s) for p, s in zip(parts, self.shapes)])

"""Which state units each parameter and each unit reach in one step: the sparsity the SnAp
and diagonal rules keep.

The patterns are found numerically: the union of the nonzero entries of ``∂s_t/∂s_{t-1}``
and ``∂s_t/∂θ`` over :data:`DRAWS` random points (parameters, state and input ~ N(0, 1)), so
a unit that a ReLU silences at one point is seen at another. They are computed once per
cell and shape, on the host, whatever the caller is tracing.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.cells.base import Cell
from rnn_jax.credit.flat_step import FlatStep

DRAWS = 32
"""Random points whose Jacobians' union is the pattern (a ReLU unit silent at all 32: 2⁻³²)."""


class Patterns(NamedTuple):
    """Boolean patterns: ``recurrent[i, j]``: unit ``j`` of ``s_{t-1}`` reaches unit ``i`` of
    ``s_t``; ``immediate[i, p]``: parameter ``p`` reaches unit ``i`` in the same step."""

    recurrent: np.ndarray
    immediate: np.ndarray

    def snap(self, n: int) -> np.ndarray:
        """SnAp-n's pattern: parameter ``p`` may influence unit ``i`` if its computation reaches
        ``i`` within ``n`` steps (Menick et al. 2021)."""
        mask = self.immediate
        for _ in range(n - 1):
            mask = mask | ((self.recurrent.astype(np.int64) @ mask.astype(np.int64)) > 0)
        return mask

    def blocks(self) -> list[list[int]]:
        """The groups of units that ``recurrent`` connects (its connected components, each
        sorted): one unit each for a diagonal recurrence, the ``[Re | Im]`` pair of each mode
        for the LRU."""
        size = self.recurrent.shape[0]
        linked = self.recurrent | self.recurrent.T
        label = -np.ones(size, np.int64)
        for start in range(size):
            if label[start] >= 0:
                continue
            label[start], stack = start, [start]
            while stack:
                unit = stack.pop()
                for other in np.flatnonzero(linked[unit]):
                    if label[other] < 0:
                        label[other] = start
                        stack.append(other)
        return [sorted(np.flatnonzero(label == root).tolist()) for root in sorted(set(label.tolist()))]


def patterns(cell: Cell, prepared: dict, input_size: int) -> Patterns:
    """The :class:`Patterns` of ``cell`` with parameters shaped like ``prepared`` (after
    ``hooks.prepare``), cached per cell and shapes."""
    leaves, tree = jax.tree.flatten(prepared)
    shapes = tuple((tuple(leaf.shape), jnp.dtype(leaf.dtype).name) for leaf in leaves)
    return _patterns(cell, tree, shapes, input_size)


@functools.lru_cache(maxsize=64)
def _patterns(cell: Cell, tree, shapes: tuple, input_size: int) -> Patterns:
    with jax.ensure_compile_time_eval():
        step, theta = FlatStep.of(cell, jax.tree.unflatten(tree, [jnp.zeros(s, d) for s, d in shapes]))
        keys = jax.random.split(jax.random.key(0), 3)
        draw = lambda key, n: jax.random.normal(key, (DRAWS, n), theta.dtype)  # noqa: E731
        thetas, states, inputs = draw(keys[0], theta.size), draw(keys[1], step.state_size), draw(keys[2], input_size)
        _, d, i = jax.jit(jax.vmap(step.jacobians))(thetas, states, inputs)
        return Patterns(np.asarray(jnp.any(d != 0, axis=0)), np.asarray(jnp.any(i != 0, axis=0)))

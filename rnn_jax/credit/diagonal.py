"""The exact online rule for diagonal recurrences (Zucchet et al. 2023, "Online learning of
long-range dependencies").

When ``∂s_t/∂s_{t-1}`` is diagonal, or block diagonal in small blocks (the LRU's complex
modes, carried here as ``[Re | Im]`` pairs), each parameter reaches only the units of one
block, and the influence ``∂s_t/∂θ`` has at most ``b`` (the block size) nonzero entries per
parameter. Carried compressed, ``E[k, p] = ∂s_{rows(p)[k]}/∂θ_p`` (``[b, P]`` per
sequence), the RTRL recursion is exact and costs ``O(b² P)`` per step plus ``2b`` passes of
the step's linearisation: ``b`` tangents give the blocks of ``D_t`` (the units at offset
``c`` of every block) and ``b`` cotangents the immediate ``I_t`` (the units at offset
``k``). This is Zucchet et al.'s rule for one layer; their multi-layer networks add spatial
backpropagation between layers, which is not built here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.credit.estimator import Estimator
from rnn_jax.credit.flat_step import FlatStep
from rnn_jax.credit.structure import Patterns

MAX_BLOCK = 2
"""Largest group of coupled units the rule accepts (a complex mode as a real pair)."""


def layout(patterns: Patterns) -> tuple[np.ndarray, np.ndarray, int] | str:
    """``(rows[P, b], offsets[S], b)``: the units each parameter reaches (padded with ``S``, a
    unit that is always zero) and each unit's offset in its block; or why the rule cannot apply."""
    blocks = patterns.blocks()
    size = max(len(b) for b in blocks)
    if size > MAX_BLOCK:
        return (f"its recurrence couples {size} state units (∂s_t/∂s_(t-1) is not diagonal, nor block diagonal "
                f"in blocks of at most {MAX_BLOCK})")
    units = patterns.recurrent.shape[0]
    block_of = np.empty(units, np.int64)
    offsets = np.empty(units, np.int64)
    for index, block in enumerate(blocks):
        block_of[block] = index
        offsets[block] = np.arange(len(block))
    table = np.full((len(blocks), size), units, np.int64)
    for index, block in enumerate(blocks):
        table[index, : len(block)] = block
    rows = np.full((patterns.immediate.shape[1], size), units, np.int64)
    for p in range(patterns.immediate.shape[1]):
        reached = np.unique(block_of[np.flatnonzero(patterns.immediate[:, p])])
        if reached.size > 1:
            return f"parameter {p} of its raveled parameters reaches {reached.size} independent blocks of units"
        if reached.size:
            rows[p] = table[reached[0]]
    return rows, offsets, size


def estimator(step: FlatStep, theta: jax.Array, patterns: Patterns) -> Estimator:
    """The rule for ``step``; ``patterns`` must pass :func:`layout`."""
    rows, offsets, size = layout(patterns)
    at_offset = jnp.asarray(offsets[None, :] == np.arange(size)[:, None], theta.dtype)  # [b, S]

    def padded(v):  # [..., S] -> [..., S + 1], the extra unit zero
        return jnp.concatenate([v, jnp.zeros(v.shape[:-1] + (1,), v.dtype)], axis=-1)

    def update(theta, s, x, traces, key):
        del key
        s_new, tangent, cotangent = step.linearized(theta, s, x)
        d_cols = jax.vmap(lambda t: tangent(jnp.zeros_like(theta), t))(at_offset)  # [c, S]
        immediate, _ = jax.vmap(cotangent)(at_offset)  # [b, P]
        blocks = padded(d_cols)[:, rows]  # [c, P, k]: D[rows(p)[k], rows(p)[c]]
        return s_new, jnp.einsum("cpk,cp->kp", blocks, traces) + immediate

    def credit(traces, c):
        return jnp.sum(padded(c)[rows].T * traces, axis=0)

    return Estimator(init=lambda: jnp.zeros((size, theta.size), theta.dtype), update=update, credit=credit)

"""The sequential loop: ``jax.lax.scan`` one step after another (segmented under ``remat``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.cells.base import Cell
from rnn_jax.types import Params
from rnn_jax.unroll.options import Options
from rnn_jax.unroll.segments import segment_length, segmented_scan
from rnn_jax.unroll.step import finish_step


def recurrent_weight_first(params: Params) -> Params:
    """``params`` with ``w_hh`` through an ``optimization_barrier`` (a no-op on values).

    Inside the loop body this makes ``w_hh`` the loop's first constant, so its gradient
    accumulator comes first in the backward loop, which XLA:CPU runs faster
    (``benchmarks.loop_body``; benchmarks/README.md).
    """
    if "w_hh" not in params:
        return params
    return {**params, "w_hh": jax.lax.optimization_barrier(params["w_hh"])}


def truncate(carry, t, seq_len: int, truncation: int | None, backwards: bool):
    """``carry`` with its gradient stopped when step ``t`` starts a new window of
    ``truncation`` steps (counted in the order the loop runs, the first window at the first
    step); ``carry`` itself otherwise. The values are unchanged, and the gradient reaching a
    step from a loss more than ``truncation - 1`` steps later is exactly zero."""
    if truncation is None:
        return carry
    done = seq_len - 1 - t if backwards else t
    cut = (done > 0) & (done % truncation == 0)
    return jax.tree.map(lambda c: jnp.where(cut, jax.lax.stop_gradient(c), c), carry)


def run(cell: Cell, params: Params, xs_t, carry, probe, lengths, backwards: bool, options: Options):
    """``(final_carry, hs)`` of ``cell`` over time-major ``xs_t``."""
    hoist = options.hoist
    inputs = cell.project_inputs(params, xs_t) if hoist else xs_t
    seq_len = xs_t.shape[0]

    def body(carry: Any, inputs: tuple) -> tuple[Any, jax.Array]:
        x_t, t, probe_t = inputs
        carry = truncate(carry, t, seq_len, options.truncation, backwards)
        params_ = recurrent_weight_first(params)
        if not hoist:
            x_t = cell.project_inputs(params_, x_t)
        valid_t = None if lengths is None else t < lengths
        return finish_step(cell, params_, carry, *cell.step(params_, carry, x_t), x_t, probe_t, valid_t)

    steps = jnp.arange(seq_len, dtype=jnp.int32 if lengths is None else lengths.dtype)
    if not options.remat:
        return jax.lax.scan(body, carry, (inputs, steps, probe), reverse=backwards, unroll=options.unroll)
    segment = segment_length(options.remat, seq_len)
    return segmented_scan(body, carry, (inputs, steps, probe), segment, backwards, options.unroll)

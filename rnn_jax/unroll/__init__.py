"""``unroll``: how a cell runs over time.

One call checks its arrays (:mod:`.inputs`), turns the loop :class:`Options` into concrete
choices (:meth:`Options.resolve`), then runs one of four loops over time-major inputs:
:mod:`.sequential` (``lax.scan``), :mod:`.parallel` (``lax.associative_scan``, for linear
recurrences), :mod:`.newton` (any cell, Newton's method over the whole trajectory, each
iteration an associative scan) or :mod:`.one_matmul` (the sequential loop with a custom VJP). Variable lengths
and reversal are :mod:`.masks`; rematerialisation is :mod:`.segments`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnn_jax.cells.base import Cell
from rnn_jax.types import Carry, Lengths, Params
from rnn_jax.unroll import newton as newton_loop
from rnn_jax.unroll import one_matmul, parallel, sequential
from rnn_jax.unroll.inputs import check, input_size_of
from rnn_jax.unroll.masks import at_last_step, reverse_valid, step_mask
from rnn_jax.unroll.newton import Method, Newton, NewtonInfo
from rnn_jax.unroll.options import (
    PARALLEL_FROM_STEPS,
    Mode,
    Options,
    WeightGradients,
    choose_mode,
    choose_weight_gradients,
)

_LOOPS = {Mode.PARALLEL: parallel.run, Mode.NEWTON: newton_loop.run, WeightGradients.ONE_MATMUL: one_matmul.run}


def unroll(
    cell: Cell,
    params: Params,
    xs: jax.Array,
    *,
    lengths: Lengths | None = None,
    initial_carry: Carry | None = None,
    reverse: bool = False,
    time_major: bool = False,
    probe: jax.Array | None = None,
    options: Options | None = None,
    **loop,
) -> tuple[Carry, jax.Array]:
    """Runs ``cell`` over the time axis of ``xs``.

    Args:
        cell: a :class:`~rnn_jax.cells.Cell`.
        params: the cell's parameters (from ``cell.init``).
        xs: ``[*b, t, i]`` float inputs (``[t, *b, i]`` when ``time_major``).
        lengths: ``[*b]`` ints in ``[1, t]``. Steps ``t >= length`` keep the carry unchanged
            and emit zeros, so ``final_carry`` is each sequence's carry at its own last step.
        initial_carry: the carry before the first step (default: zeros).
        reverse: run each sequence backwards over its valid part; outputs stay aligned with
            the inputs' time positions and padding stays at the end.
        time_major: ``xs`` (and the returned ``hs``) are ``[t, *b, ...]``.
        probe: ``[t, *b, h]`` array (zeros) added to the hidden state after each step, inside
            the carry, so ``jax.grad(loss, argnums=probe)[t] == dL/dh_t``.
        options: how the loop runs, an :class:`Options` (default ``Options()``).
        **loop: fields of :class:`Options` set on ``options`` (``mode="parallel"``,
            ``remat=True``, ``truncation=k``...); each is described there.

    Every choice of loop gives the same values up to float rounding.

    Returns:
        ``(final_carry, hs)`` with ``hs`` of shape ``[*b, t, h]`` (``[t, *b, h]`` if time-major).

    Raises:
        TypeError / ValueError: before tracing, for a wrong dtype, rank, feature size, lengths,
            probe, initial carry or option.
    """
    options = Options.of(options, **loop)
    shapes = check(cell, params, xs, lengths=lengths, initial_carry=initial_carry, probe=probe, time_major=time_major)
    if cell.hooks.check_length is not None:
        cell.hooks.check_length(shapes.seq_len)
    options = options.resolve(cell, seq_len=shapes.seq_len, hidden_size=shapes.hidden_size,
                              batch_size=math.prod(shapes.batch_shape))
    xs_t = xs if time_major else jnp.moveaxis(xs, -2, 0)
    lengths = None if lengths is None else jnp.asarray(lengths)
    reorder = reverse and lengths is not None
    if reorder:
        xs_t = reverse_valid(xs_t, lengths)
        probe = None if probe is None else reverse_valid(probe, lengths)
    params = cell.hooks.prepare(params)
    carry = cell.initial_carry(params, shapes.batch_shape) if initial_carry is None else initial_carry
    loop = _LOOPS.get(options.mode) or _LOOPS.get(options.weight_gradients) or sequential.run
    carry, hs = loop(cell, params, xs_t, carry, probe, lengths, reverse and not reorder, options)
    if reorder:
        hs = reverse_valid(hs, lengths)
    return carry, hs if time_major else jnp.moveaxis(hs, 0, -2)


__all__ = ["PARALLEL_FROM_STEPS", "Method", "Mode", "Newton", "NewtonInfo", "Options", "WeightGradients", "at_last_step", "choose_mode",
           "choose_weight_gradients", "input_size_of", "step_mask", "unroll"]

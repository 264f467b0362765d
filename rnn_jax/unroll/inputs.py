"""The checks of one :func:`rnn_jax.unroll` call's arrays, before anything is traced."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells.base import Cell
from rnn_jax.types import Params


class Shapes(NamedTuple):
    """What a call's arrays say about it."""

    seq_len: int
    batch_shape: tuple[int, ...]
    hidden_size: int


def input_size_of(params: Params) -> int | None:
    """The input size a cell's parameters expect: the last axis of ``w_ih`` (every built-in
    cell), or ``None`` when the parameters have no ``w_ih`` (cells from Flax)."""
    return params["w_ih"].shape[-1] if "w_ih" in params else None


def check(cell: Cell, params: Params, xs, *, lengths, initial_carry, probe, time_major: bool) -> Shapes:
    """The call's :class:`Shapes`, or a ``TypeError``/``ValueError`` naming the argument."""
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be a rnn_jax.cells.Cell, got {type(cell).__name__}; use rnn_jax.cells.get(name)")
    if not isinstance(params, dict):
        raise TypeError(f"params must be the dict returned by cell.init, got {type(params).__name__}")
    _checks.float_array(xs, "xs", ndim_min=2)
    input_size = input_size_of(params)
    if input_size is not None and xs.shape[-1] != input_size:
        raise ValueError(f"xs has {xs.shape[-1]} features on its last axis (shape {tuple(xs.shape)}), "
                         f"expected input_size={input_size} from params")
    seq_len = xs.shape[0] if time_major else xs.shape[-2]
    batch_shape = tuple(xs.shape[1:-1] if time_major else xs.shape[:-2])
    if seq_len < 1:
        raise ValueError(f"xs has no time steps (shape {tuple(xs.shape)}); expected at least 1")
    if lengths is not None:
        _checks.lengths_array(lengths, batch_shape, seq_len)
    try:
        want = jax.eval_shape(lambda p: cell.initial_carry(p, batch_shape), params)
    except KeyError as missing:
        raise TypeError(f"params lack {missing}, which the {cell.name!r} cell needs; params must be the dict "
                        f"returned by cell.init") from None
    hidden_shape = jax.eval_shape(cell.hidden, want).shape
    if probe is not None and tuple(probe.shape) != (seq_len, *hidden_shape):
        raise ValueError(f"probe must have shape [t, *b, h] = {(seq_len, *hidden_shape)}, got {tuple(probe.shape)}")
    if initial_carry is not None:
        _check_carry(want, initial_carry, batch_shape)
    return Shapes(seq_len, batch_shape, hidden_shape[-1])


def _check_carry(want, initial_carry, batch_shape) -> None:
    got = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), initial_carry)
    if jax.tree.structure(want) != jax.tree.structure(got) or any(
        w.shape != g.shape for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got))
    ):
        raise ValueError(f"initial_carry must match cell.initial_carry(params, {batch_shape}) with shapes "
                         f"{jax.tree.map(lambda a: a.shape, want)}, got {jax.tree.map(lambda a: a.shape, got)}")

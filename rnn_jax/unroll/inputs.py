"""The checks of one :func:`rnn_jax.unroll` call's arrays, before anything is traced."""

from __future__ import annotations

import functools
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
    if input_size is not None:
        _check_param_shapes(cell, params, input_size, hidden_shape[-1])
    if probe is not None and tuple(probe.shape) != (seq_len, *hidden_shape):
        raise ValueError(f"probe must have shape [t, *b, h] = {(seq_len, *hidden_shape)}, got {tuple(probe.shape)}")
    if initial_carry is not None:
        _check_carry(want, initial_carry, batch_shape)
    return Shapes(seq_len, batch_shape, hidden_shape[-1])


def _check_param_shapes(cell: Cell, params: Params, input_size: int, hidden_size: int) -> None:
    """Refuses hand-made parameters whose shapes are not those ``cell.init`` makes (a
    non-square ``w_hh``), naming each parameter that differs at the hidden size most of
    them agree on. Parameters of a layout ``init`` does not make are not judged."""
    shapes = tuple((jax.tree_util.keystr(path), tuple(jnp.shape(leaf)))
                   for path, leaf in jax.tree_util.tree_leaves_with_path(params))
    try:
        problem = _shape_problem(cell, input_size, hidden_size, shapes)
    except TypeError:  # an unhashable cell: judged without the cache
        problem = _shape_problem.__wrapped__(cell, input_size, hidden_size, shapes)
    if problem:
        raise ValueError(problem)


@functools.lru_cache(maxsize=256)
def _shape_problem(cell: Cell, input_size: int, hidden_size: int,
                   shapes: tuple[tuple[str, tuple[int, ...]], ...]) -> str | None:
    """What differs from ``cell.init``'s shapes at the hidden size that fits best: the one
    the carry says, or one a parameter's axis says (a gate count times it)."""
    best = None
    axes = {d for _, shape in shapes for d in shape}
    for hidden in sorted({hidden_size} | axes | {d // k for d in axes for k in (2, 3, 4) if d % k == 0}):
        try:
            want = jax.eval_shape(lambda k, h=hidden: cell.init(k, input_size, h), jax.random.key(0))
        except (ValueError, TypeError):
            continue
        expected = [(jax.tree_util.keystr(p), tuple(leaf.shape)) for p, leaf in jax.tree_util.tree_leaves_with_path(want)]
        if [name for name, _ in expected] != [name for name, _ in shapes]:
            return None  # another layout (a cell's own, or Flax's): nothing to compare with
        wrong = [(name, got, w) for (name, got), (_, w) in zip(shapes, expected) if got != w]
        if not wrong:
            return None
        if best is None or len(wrong) < len(best[1]):
            best = (hidden, wrong)
    if not best or not best[1]:
        return None
    hidden, wrong = best
    return "; ".join(f"params{name} has shape {got}, expected {w}" for name, got, w in wrong) + (
        f" (a {cell.name!r} cell of input_size={input_size} and hidden_size={hidden}, as its other parameters say)")


def _check_carry(want, initial_carry, batch_shape) -> None:
    got = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), initial_carry)
    if jax.tree.structure(want) != jax.tree.structure(got) or any(
        w.shape != g.shape for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got))
    ):
        raise ValueError(f"initial_carry must match cell.initial_carry(params, {batch_shape}) with shapes "
                         f"{jax.tree.map(lambda a: a.shape, want)}, got {jax.tree.map(lambda a: a.shape, got)}")

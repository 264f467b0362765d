"""What every sequential loop does around ``cell.step``: the probe and the padded steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rnn_jax.cells.base import Cell, add_to_hidden, output
from rnn_jax.types import Carry, Params


def finish_step(cell: Cell, params: Params, carry: Carry, new_carry: Carry, h: jax.Array, x_t: jax.Array,
                probe_t: jax.Array | None, valid_t: jax.Array | None) -> tuple[Carry, jax.Array]:
    """After ``cell.step``: add the probe to the hidden state (and read the output again, so
    the probe means dL/dh_t), then keep the old carry and emit zeros on padded steps
    (``valid_t`` false)."""
    if probe_t is not None:
        new_carry = add_to_hidden(cell, new_carry, probe_t)
        h = output(cell, params, new_carry, x_t)
    if valid_t is not None:
        valid_t = valid_t[..., None]
        new_carry = jax.tree.map(lambda new, old: jnp.where(valid_t, new, old), new_carry, carry)
        h = jnp.where(valid_t, h, jnp.zeros_like(h))
    return new_carry, h

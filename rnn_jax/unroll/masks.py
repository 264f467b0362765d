"""Variable lengths on time-major arrays: which steps are valid, each sequence's last step,
and the reversal of each sequence over its valid part."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def step_mask(lengths: jax.Array | None, seq_len: int) -> jax.Array | None:
    """``[*b, t]`` bool, true on each sequence's valid steps (``t < length``); ``None`` when
    ``lengths`` is ``None`` (every step is valid)."""
    if lengths is None:
        return None
    lengths = jnp.asarray(lengths)
    return jnp.arange(seq_len).reshape((1,) * lengths.ndim + (-1,)) < lengths[..., None]


def at_last_step(xs_t: jax.Array, lengths: jax.Array | None) -> jax.Array:
    """Each sequence's entry of time-major ``xs_t[t, *b, ...]`` at its last valid step,
    ``length - 1`` (the last step when ``lengths`` is ``None``)."""
    if lengths is None:
        return xs_t[-1]
    index = (jnp.asarray(lengths) - 1).reshape((1, *jnp.shape(lengths)) + (1,) * (xs_t.ndim - 1 - jnp.ndim(lengths)))
    return jnp.take_along_axis(xs_t, index, axis=0)[0]


def reverse_valid(x: jax.Array, lengths: jax.Array) -> jax.Array:
    """Reverses each sequence of time-major ``x[t, *b, ...]`` over its valid part ``[0, len)``.

    Padding stays at the end. The permutation is an involution: applying it twice is the
    identity, so the same call maps outputs back to the original time order.
    """
    t = jnp.arange(x.shape[0], dtype=lengths.dtype).reshape((-1,) + (1,) * lengths.ndim)  # [t, 1, ...]
    lengths = lengths[None]  # [1, *b]
    index = jnp.where(t < lengths, lengths - 1 - t, t)  # [t, *b]
    index = index.reshape(index.shape + (1,) * (x.ndim - index.ndim))
    return jnp.take_along_axis(x, jnp.broadcast_to(index, x.shape), axis=0)


def time_valid(lengths: jax.Array | None, seq_len: int) -> jax.Array | None:
    """:func:`step_mask` time-major: ``[t, *b]``."""
    mask = step_mask(lengths, seq_len)
    return None if mask is None else jnp.moveaxis(mask, -1, 0)

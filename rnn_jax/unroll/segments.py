"""Rematerialisation: the time axis cut into segments under ``jax.checkpoint``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def segment_length(remat: bool | int, seq_len: int) -> int:
    """Steps per segment: ``round(sqrt(t))`` for ``remat=True`` (memory O(sqrt(t))), else ``remat``."""
    if remat is True:
        return max(1, round(math.sqrt(seq_len)))
    return min(remat, seq_len)


def segmented_scan(body, carry, xs, segment: int, backwards: bool, unroll):
    """``lax.scan(body, carry, xs)`` as a scan over segments of ``segment`` steps, each under
    ``jax.checkpoint``: the backward pass keeps only the carries at segment boundaries and
    recomputes one segment at a time. The values are those of the plain scan."""
    if backwards:  # run the time-reversed sequence forwards
        xs = jax.tree.map(lambda a: jnp.flip(a, 0), xs)
    seq_len = jax.tree.leaves(xs)[0].shape[0]
    count, tail = divmod(seq_len, segment)

    @jax.checkpoint
    def run_segment(carry, xs_segment):
        return jax.lax.scan(body, carry, xs_segment, unroll=unroll)

    head = jax.tree.map(lambda a: a[: count * segment].reshape((count, segment) + a.shape[1:]), xs)
    carry, hs = jax.lax.scan(run_segment, carry, head)
    hs = hs.reshape((count * segment,) + hs.shape[2:])
    if tail:
        carry, hs_tail = run_segment(carry, jax.tree.map(lambda a: a[count * segment:], xs))
        hs = jnp.concatenate([hs, hs_tail])
    return carry, jnp.flip(hs, 0) if backwards else hs

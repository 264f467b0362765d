"""The small named types every layer shares: ``Batch``, ``Readout``, parameter and carry
aliases. They live at the bottom of the package so that tasks and models both import
downward.

Legend for the dimension names used in shape strings and docstrings:

    *b  any number of leading batch dimensions (often a single ``b`` = batch)
    t   time (sequence length)
    i   input features
    h   hidden units of one cell
    g   fused gate width: ``G * h`` (rnn: G=1, gru: G=3, lstm: G=4)
    o   output features of the readout head
    s   seeds / sweep members stacked by the runner
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple, Union

from jaxtyping import Array, Float, Int

# A cell's parameters: a dict of arrays (``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``).
Params = dict[str, Any]
# A carry: one array for rnn / gru, ``(h, c)`` for lstm.
Carry = Union[Array, tuple[Array, ...]]
Lengths = Int[Array, "*b"]


class Readout(enum.StrEnum):
    """What a model's head reads from its last layer's outputs, and so what a task's targets
    look like: one per sequence, or one per step."""

    LAST = "last"  # each sequence's output at its own last valid step (bidirectional: both final states)
    ALL = "all"  # every step: outputs [*b, t, o]
    MEAN = "mean"  # mean over each sequence's valid steps
    FLAT = "flat"  # every step's output concatenated, [*b, t * h] (a fixed t: the model's seq_len)

    @property
    def per_step(self) -> bool:
        """Whether there is one output (and target) per time step."""
        return self is Readout.ALL


class Batch(NamedTuple):
    """One batch of a task.

    Attributes:
        inputs: ``[b, t, i]`` float inputs, batch-major.
        targets: task-dependent targets (``[b, o]``, ``[b, t, o]`` or integer labels).
        lengths: ``[b]`` int32 valid lengths, or ``None`` when every sequence is full.
    """

    inputs: Float[Array, "b t i"]
    targets: Array
    lengths: Int[Array, " b"] | None = None


__all__ = ["Array", "Batch", "Carry", "Lengths", "Params", "Readout"]

CPU = "cpu"
"""JAX's platform name of host CPU devices (``device.platform``, ``jax.default_backend()``)."""

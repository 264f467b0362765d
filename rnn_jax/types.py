"""Shape vocabulary and the small named containers used across rnn_jax.

Legend for the dimension names used in every signature:

    *b  any number of leading batch dimensions (often a single ``b`` = batch)
    t   time (sequence length)
    i   input features
    h   hidden units of one cell
    g   fused gate width: ``G * h`` (rnn: G=1, gru: G=3, lstm: G=4)
    o   output features of the readout head
    s   seeds / sweep members stacked by the runner

The aliases are documentation first: they are checked in tests, not at run time.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union

from jaxtyping import Array, Float, Int, PRNGKeyArray

# A cell's parameters: a dict of arrays (``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``).
Params = dict[str, Any]
# A carry: one array for rnn / gru, ``(h, c)`` for lstm.
Carry = Union[Array, tuple[Array, ...]]
PRNGKey = PRNGKeyArray

BatchInputs = Float[Array, "*b t i"]
TimeMajorInputs = Float[Array, "t *b i"]
ProjectedInputs = Float[Array, "t *b g"]
Hidden = Float[Array, "*b h"]
HiddenSeq = Float[Array, "t *b h"]
Lengths = Int[Array, "*b"]
Outputs = Float[Array, "*b o"]
SeqOutputs = Float[Array, "*b t o"]


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


__all__ = [
    "Array",
    "Batch",
    "BatchInputs",
    "Carry",
    "Hidden",
    "HiddenSeq",
    "Lengths",
    "Outputs",
    "Params",
    "PRNGKey",
    "ProjectedInputs",
    "SeqOutputs",
    "TimeMajorInputs",
]

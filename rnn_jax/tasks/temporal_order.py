"""The temporal order task: which of A and B came first, and which second, in a long sequence.

As in Pascanu, Mikolov & Bengio 2013 (code pascanur/trainingRNNs ``tempOrder.py``; the task
is Hochreiter & Schmidhuber 1997, Exp. 6a). Six one-hot symbols: ``A, B`` (0, 1) and the
distractors ``c, d, e, f`` (2..5). In a sequence of length ``L``, one of A or B sits at a
position uniform in ``[L/10, 2L/10)`` and another at one uniform in ``[5L/10, 6L/10)``; every
other step is a random distractor. The target is the ordered pair (AA, AB, BA, BB as classes
``first + 2·second``), read at the sequence's last step with a cross-entropy. Lengths are
uniform in ``[min_len, seq_len]`` per sequence (Pascanu et al. draw one per batch, in
[50, 200]); ``min_len=None`` keeps every sequence at ``seq_len``. The memoryless baseline
guesses: loss ``ln 4``, accuracy 1/4.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.tasks.base import LossKind, Task
from rnn_jax.types import Batch

NUM_SYMBOLS = 6
NUM_CLASSES = 4


@dataclasses.dataclass(frozen=True)
class TemporalOrder(Task):
    """Temporal order of two marked symbols.

    Attributes:
        seq_len: the longest sequence (``L`` of a fixed-length task).
        min_len: the shortest; lengths are uniform in ``[min_len, seq_len]`` (``None``: all
            sequences have ``seq_len`` steps).
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 200
    min_len: int | None = None
    eval_size: int = 1000

    name = "temporal_order"
    loss_kind = LossKind.CE
    success_metric = "accuracy"
    input_size = NUM_SYMBOLS
    output_size = NUM_CLASSES

    def __post_init__(self):
        super().__post_init__()
        if self.seq_len < 10:
            raise ValueError(f"seq_len={self.seq_len} is too short for the temporal order task; expected >= 10 "
                             "(each mark has a window of L/10 steps)")
        if self.min_len is not None:
            _checks.positive_int(self.min_len, "min_len")
            if not 10 <= self.min_len <= self.seq_len:
                raise ValueError(f"min_len={self.min_len} must be in [10, seq_len={self.seq_len}]")

    @property
    def baseline_loss(self) -> float:
        return math.log(NUM_CLASSES)

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        k_len, k_p0, k_p1, k_marks, k_rest = jax.random.split(key, 5)
        if self.min_len is None:
            lengths, out_lengths = jnp.full((batch_size,), self.seq_len, jnp.int32), None
        else:
            lengths = jax.random.randint(k_len, (batch_size,), self.min_len, self.seq_len + 1, dtype=jnp.int32)
            out_lengths = lengths
        window = lengths // 10  # their int(L * .1)
        offset = lambda k: jnp.floor(draw(jax.random.uniform, k, (batch_size,), dtype=jnp.float32) * window.astype(jnp.float32))  # noqa: E731
        p0 = window + offset(k_p0).astype(jnp.int32)
        p1 = lengths // 2 + offset(k_p1).astype(jnp.int32)
        marks = draw(jax.random.randint, k_marks, (batch_size, 2), minval=0, maxval=2, dtype=jnp.int32)
        symbols = draw(jax.random.randint, k_rest, (batch_size, self.seq_len), minval=2, maxval=NUM_SYMBOLS, dtype=jnp.int32)
        steps = jnp.arange(self.seq_len, dtype=jnp.int32)[None, :]
        symbols = jnp.where(steps == p0[:, None], marks[:, :1], symbols)
        symbols = jnp.where(steps == p1[:, None], marks[:, 1:], symbols)
        inputs = jax.nn.one_hot(symbols, NUM_SYMBOLS, dtype=jnp.float32) * (steps < lengths[:, None]).astype(jnp.float32)[..., None]
        return Batch(inputs, marks[:, 0] + 2 * marks[:, 1], out_lengths)

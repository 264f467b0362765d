"""Parity of a bit stream: output 1 when the sequence holds an odd number of ones.

Inputs are ``T`` bits ~ Bernoulli(1/2) (one channel); the target is their XOR, read at the
last step with a binary cross-entropy on the logit. Every bit matters until the end, so the
task needs memory over the whole sequence. The memoryless baseline predicts 1/2:
loss ``ln 2``. Solved means ``accuracy >= 0.99`` on the held-out set (``SOLVED_ACCURACY``).

References:
    Minsky & Papert 1969 (parity as the hard case); used for RNNs by Hochreiter & Schmidhuber
    1997 and Bengio, Simard & Frasconi 1994 ("latching" of one bit).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rnn_jax._random import draw
from rnn_jax.tasks.base import BitTask
from rnn_jax.types import Batch

SOLVED_ACCURACY = 0.99


@dataclasses.dataclass(frozen=True)
class Parity(BitTask):
    """Parity of ``seq_len`` random bits.

    Attributes:
        seq_len: ``T``, bits per sequence.
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 50
    eval_size: int = 1000

    name = "parity"

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        bits = draw(jax.random.bernoulli, key, (batch_size, self.seq_len), p=0.5).astype(jnp.int32)
        targets = (jnp.sum(bits, axis=1, keepdims=True) % 2).astype(jnp.float32)
        return Batch(bits[..., None].astype(jnp.float32), targets, None)

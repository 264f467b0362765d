"""Echo: repeat a cue bit exactly ``d`` steps after it was shown, in a stream of cues.

A cue (a random sign, ±1 on the one input channel) arrives every ``d + 1`` steps, at
``t = 0, d+1, 2(d+1), ...``, and the input is 0 in between. The target at ``d`` steps after
each cue, the step before the next one arrives, is that cue's bit, read with a binary
cross-entropy on the logit; no other step is scored. The task needs one bit of memory for
exactly ``d`` steps, whatever ``d``, so its difficulty is the lag alone: how far back
credit must reach. The readout is linear in the cue, so linear recurrences (``lru``) can
solve it too. The memoryless baseline predicts 1/2: loss ``ln 2``, accuracy 1/2.

It is a per-step stream, so ``TrainConfig(stateful=True)`` can cut it into windows shorter
than the lag (``experiments.credit_assignment``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rnn_jax._random import draw
from rnn_jax.tasks.base import BitTask
from rnn_jax.types import Batch, Readout


@dataclasses.dataclass(frozen=True)
class Echo(BitTask):
    """Repeat each cue ``delay`` steps later.

    Attributes:
        seq_len: ``T``, steps per sequence (at least ``delay + 1``: one cue is recalled).
        delay: ``d``, the lag between a cue and its recall.
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 64
    delay: int = 8
    eval_size: int = 500

    name = "echo"
    readout = Readout.ALL

    def __post_init__(self):
        super().__post_init__()
        if self.delay >= self.seq_len:
            raise ValueError(f"delay={self.delay}: it must be below seq_len={self.seq_len} (no cue is recalled)")

    def cue_steps(self) -> jax.Array:
        """``[T]`` bool: the steps where a cue arrives."""
        return jnp.arange(self.seq_len) % (self.delay + 1) == 0

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        bits = draw(jax.random.bernoulli, key, (batch_size, self.seq_len), p=0.5).astype(jnp.float32)
        bits = jnp.where(self.cue_steps(), bits, 0.0)
        cues = jnp.where(self.cue_steps(), 2.0 * bits - 1.0, 0.0)
        recalled = jnp.concatenate([jnp.zeros((batch_size, self.delay)), bits[:, : -self.delay]], axis=1)
        return Batch(cues[..., None], recalled[..., None], None)

    def recall_steps(self) -> jax.Array:
        """``[T]`` bool: the steps ``d`` after a cue, where its bit is recalled."""
        return jnp.concatenate([jnp.zeros(self.delay, bool), self.cue_steps()[: -self.delay]])

    def step_mask(self, batch: Batch) -> jax.Array:
        """Only the recall steps are scored."""
        return jnp.broadcast_to(self.recall_steps(), batch.inputs.shape[:2])

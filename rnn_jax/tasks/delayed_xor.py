"""Delayed XOR: at every step, the XOR of the bits ``d`` and ``2d`` steps back.

Inputs are ``T`` bits ~ Bernoulli(1/2) (one channel, times ``scale``); the target at step
``t >= 2d`` is ``s_{t-d} XOR s_{t-2d}``, read at every step with a binary cross-entropy on the
logit. Steps before ``2d`` are not scored. The task needs a memory of exactly ``2d`` steps and
a nonlinear readout of it. The memoryless baseline predicts 1/2: loss ``ln 2``, accuracy 1/2.

As Engelken 2023's gradient-flossing code generates it (RainerEngelken/GradientFlossing,
``GradientFlossing_XOR.jl``, task -1), except that their first scored step's older bit falls
before the visible sequence; here every scored target depends on visible bits only.

References:
    Engelken 2023, "Gradient flossing: improving gradient descent through dynamic control of
    Jacobians", NeurIPS.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.tasks.base import BitTask
from rnn_jax.types import Batch, Readout


@dataclasses.dataclass(frozen=True)
class DelayedXOR(BitTask):
    """Delayed XOR of a bit stream.

    Attributes:
        seq_len: ``T``, steps per sequence.
        delay: ``d``; the target at ``t`` is ``s_{t-d} XOR s_{t-2d}``.
        scale: the input's amplitude (bits are ``0`` or ``scale``).
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 300
    delay: int = 10
    scale: float = 1.0
    eval_size: int = 500

    name = "delayed_xor"
    readout = Readout.ALL

    def __post_init__(self):
        super().__post_init__()
        _checks.number(self.scale, "scale", low=0.0, low_open=True)
        if 2 * self.delay >= self.seq_len:
            raise ValueError(f"delay={self.delay}: 2 * delay must be below seq_len={self.seq_len} (no step is scored)")

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        bits = draw(jax.random.bernoulli, key, (batch_size, self.seq_len), p=0.5).astype(jnp.int32)
        d = self.delay
        xor = jnp.bitwise_xor(bits[:, d:-d], bits[:, : -2 * d])  # t = 2d ... T-1: s_{t-d} ^ s_{t-2d}
        targets = jnp.concatenate([jnp.zeros((batch_size, 2 * d), jnp.int32), xor], axis=1)
        return Batch(self.scale * bits[..., None].astype(jnp.float32), targets[..., None].astype(jnp.float32), None)

    def step_mask(self, batch: Batch) -> jax.Array:
        """Only steps ``t >= 2d`` are scored."""
        return jnp.broadcast_to(jnp.arange(batch.inputs.shape[1]) >= 2 * self.delay, batch.inputs.shape[:2])

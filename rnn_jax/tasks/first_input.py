"""Recall the first input: the sign of a ±1 given at the first step, read at the last.

Channel 0 holds ``s = ±1`` (equally likely) at ``t = 0`` and 0 afterwards; the other
``noise_channels`` hold independent ``N(0, noise²)`` at every step, which drive the network
as a random input does in the mean-field theory (their variance enters the fixed point
``q*``). With many noise channels and input weights ``N(0, 1/noise_channels)``, every unit
receives an input of variance close to ``noise²``, as the theory assumes; with one channel
each unit's variance is its own weight squared. The target, read
at the last step with a binary cross-entropy on the logit, is ``s > 0``. Only the first
input matters, so the task needs the state to carry it over all ``T`` steps and the
gradient to carry the error back over them. The memoryless baseline predicts 1/2: loss
``ln 2``, accuracy 1/2.

References:
    Chen, Pennington & Schoenholz 2018, "Dynamical isometry and a mean field theory of RNNs:
    gating enables signal propagation in recurrent neural networks", ICML (a maximum
    timescale over which a random RNN can remember an input predicts trainability).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.tasks.base import BitTask
from rnn_jax.types import Batch


@dataclasses.dataclass(frozen=True)
class FirstInput(BitTask):
    """The sign of the first input under noise.

    Attributes:
        seq_len: ``T``, steps per sequence.
        noise: the standard deviation of each noise channel's input at every step (>= 0).
        noise_channels: how many noise channels follow channel 0.
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 32
    noise: float = 1.0
    noise_channels: int = 1
    eval_size: int = 1000

    name = "first_input"

    def __post_init__(self):
        super().__post_init__()
        _checks.number(self.noise, "noise", low=0.0)
        _checks.positive_int(self.noise_channels, "noise_channels")

    @property
    def input_size(self) -> int:
        return 1 + self.noise_channels

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        k_sign, k_noise = jax.random.split(key)
        positive = draw(jax.random.bernoulli, k_sign, (batch_size,), p=0.5)
        first = jnp.zeros((batch_size, self.seq_len), jnp.float32).at[:, 0].set(jnp.where(positive, 1.0, -1.0))
        noise = self.noise * draw(jax.random.normal, k_noise, (batch_size, self.seq_len, self.noise_channels))
        return Batch(jnp.concatenate([first[..., None], noise], axis=-1), positive[:, None].astype(jnp.float32), None)

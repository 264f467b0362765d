"""One-step-ahead forecasting of a noisy quasi-periodic series.

Each sequence is ``x_t = sum_k a_k sin(2π t / P_k + φ_k) + σ ε_t`` with fixed amplitudes
``a_k`` and incommensurate periods ``P_k``, phases ``φ_k ~ U[0, 2π)`` drawn per sequence and
``ε_t ~ N(0, 1)``. Inputs are ``x_0 .. x_{T-1}``, targets ``x_1 .. x_T`` (every step, MSE).

Baseline: persistence (predict ``x_{t+1} = x_t``), whose expected MSE over random phases is
exactly ``sum_k a_k^2 (1 - cos(2π / P_k)) + 2 σ^2``. A model that uses the past does better:
``skill = 1 - loss / baseline``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.tasks.base import Task
from rnn_jax.types import Batch, Readout


@dataclasses.dataclass(frozen=True)
class Forecast(Task):
    """Noisy sum of sines, forecast one step ahead.

    Attributes:
        seq_len: ``T`` steps per sequence.
        periods: ``P_k`` in steps.
        amplitudes: ``a_k`` (same count as ``periods``).
        noise: ``σ``, the standard deviation of the observation noise.
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 100
    periods: tuple[float, ...] = (7.0, 17.0, 31.0)
    amplitudes: tuple[float, ...] = (1.0, 0.6, 0.4)
    noise: float = 0.1
    eval_size: int = 1000

    name = "forecast"
    readout = Readout.ALL
    input_size = 1
    output_size = 1

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "periods", tuple(float(p) for p in self.periods))
        object.__setattr__(self, "amplitudes", tuple(float(a) for a in self.amplitudes))
        if not self.periods or len(self.periods) != len(self.amplitudes):
            raise ValueError(
                f"periods={self.periods} and amplitudes={self.amplitudes} must be non-empty and of equal length"
            )
        for p in self.periods:
            _checks.number(p, "periods", low=2.0)
        _checks.number(self.noise, "noise", low=0.0)

    @property
    def baseline_loss(self) -> float:
        signal = sum(a * a * (1 - math.cos(2 * math.pi / p)) for a, p in zip(self.amplitudes, self.periods))
        return signal + 2 * self.noise**2

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        k_phase, k_noise = jax.random.split(key)
        count = len(self.periods)
        phases = draw(jax.random.uniform, k_phase, (batch_size, 1, count), maxval=2 * math.pi)
        t = jnp.arange(self.seq_len + 1, dtype=jnp.float32).reshape(1, -1, 1)
        omega = (2 * math.pi / jnp.asarray(self.periods, jnp.float32)).reshape(1, 1, count)
        amplitudes = jnp.asarray(self.amplitudes, jnp.float32).reshape(1, 1, count)
        series = jnp.sum(amplitudes * jnp.sin(omega * t + phases), axis=-1)
        series = series + self.noise * draw(jax.random.normal, k_noise, series.shape)
        return Batch(series[:, :-1, None], series[:, 1:, None], None)

"""Identify a linear time-invariant system: the teacher-student task of Zucchet & Orvieto 2024.

A fixed random linear teacher with ``n`` hidden units maps white inputs ``x_t ~ N(0, 1)``
(one channel) to one output at every step::

    h_t = A h_{t-1} + B x_t  (h_0 = 0),      y_t = C h_t + D x_t

drawn as their code's ``dense`` parametrisation draws it: ``A ~ N(0, 1/n)`` whose eigenvalues
``l`` are moved to moduli ``ν₀ + (ν_max - ν₀) tanh|l|`` (phases ``arg l · max_phase / π``),
``B ~ N(0, 1)``, ``C ~ N(0, 1/n)``, ``D ~ N(0, 1)``. ``ν₀`` (``min_nu``) sets the teacher's
memory: every mode decays no faster than ``ν₀^t``. The teacher comes from ``teacher_seed``
alone (their code builds it from a fixed seed too), so every seed of a run learns the same
teacher; the student is scored at every step with the mean squared error.

Baseline: the best memoryless predictor ``ŷ_t = k x_t`` (``k = CB + D``, the part of ``y_t``
that the current input explains), whose loss is the rest of the output's variance, averaged
over the ``T`` steps; computed exactly from the teacher's state covariance
``P_t = A P_{t-1} Aᵀ + BBᵀ``.

Differences from their code: the teacher is drawn with NumPy from ``teacher_seed`` (theirs
with JAX from seed 42), so it is another draw of the same distribution; the loss is the mean
squared error, twice theirs (``0.5 · mean``).

References:
    Zucchet & Orvieto 2024, "Recurrent neural networks: vanishing and exploding gradients are
    not the end of the story", NeurIPS (code NicolasZucchet/Vanishing-and-exploding-
    gradients-are-not-the-end-of-the-story, ``source/dataloaders/regression.py``).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.tasks.base import Task
from rnn_jax.types import Batch, Readout


def teacher(hidden: int, min_nu: float, max_nu: float, max_phase: float, seed: int) -> dict[str, np.ndarray]:
    """The teacher's ``A [n, n]``, ``B [n, 1]``, ``C [1, n]``, ``D [1, 1]`` (float64)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((hidden, hidden)) / math.sqrt(hidden)
    eig, vectors = np.linalg.eig(a)
    moved = (min_nu + (max_nu - min_nu) * np.tanh(np.abs(eig))) * np.exp(1j * np.angle(eig) * max_phase / math.pi)
    a = (vectors @ np.diag(moved) @ np.linalg.inv(vectors)).real
    return {"A": a, "B": rng.standard_normal((hidden, 1)), "C": rng.standard_normal((1, hidden)) / math.sqrt(hidden),
            "D": rng.standard_normal((1, 1))}


def _memoryless_loss(s: dict[str, np.ndarray], steps: int) -> float:
    """The mean over ``steps`` of ``E[(y_t - k x_t)²]``, ``k = CB + D``, from the state
    covariance ``P_t = A P_{t-1} Aᵀ + BBᵀ`` (``P_0 = 0``)."""
    k = float((s["C"] @ s["B"] + s["D"])[0, 0])
    cross = 2 * float((s["C"] @ s["B"])[0, 0]) * float(s["D"][0, 0]) + float(s["D"][0, 0]) ** 2 - k * k
    p, total = np.zeros_like(s["A"]), 0.0
    for _ in range(steps):
        p = s["A"] @ p @ s["A"].T + s["B"] @ s["B"].T
        total += float((s["C"] @ p @ s["C"].T)[0, 0]) + cross
    return total / steps


@dataclasses.dataclass(frozen=True)
class LinearSystem(Task):
    """Learn a fixed random linear teacher's output at every step.

    Attributes:
        seq_len: ``T`` steps per sequence.
        min_nu: ``ν₀``, the smallest modulus of the teacher's eigenvalues (its memory).
        max_nu: the modulus ``tanh|l| → 1`` maps to (``≤ 1``).
        max_phase: phases are ``arg l · max_phase / π`` (their default 3.14).
        hidden: ``n``, the teacher's hidden units.
        teacher_seed: the teacher's draw.
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 300
    min_nu: float = 0.9
    max_nu: float = 1.0
    max_phase: float = 3.14
    hidden: int = 10
    teacher_seed: int = 42
    eval_size: int = 500

    name = "linear_system"
    readout = Readout.ALL
    input_size = 1
    output_size = 1

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.teacher_seed, int) or isinstance(self.teacher_seed, bool) or self.teacher_seed < 0:
            raise TypeError(f"teacher_seed={self.teacher_seed!r} must be a non-negative int")
        _checks.number(self.min_nu, "min_nu", low=0.0, high=1.0, high_open=True)
        _checks.number(self.max_nu, "max_nu", low=0.0, high=1.0)
        _checks.number(self.max_phase, "max_phase", low=0.0)
        if not self.min_nu <= self.max_nu:
            raise ValueError(f"min_nu={self.min_nu!r} must not exceed max_nu={self.max_nu!r}")
        system = teacher(self.hidden, self.min_nu, self.max_nu, self.max_phase, self.teacher_seed)
        object.__setattr__(self, "_teacher", system)
        object.__setattr__(self, "_baseline", _memoryless_loss(system, self.seq_len))

    @property
    def system(self) -> dict[str, np.ndarray]:
        """The teacher: ``A``, ``B``, ``C``, ``D`` (float64 NumPy arrays)."""
        return dict(self._teacher)

    @property
    def baseline_loss(self) -> float:
        return self._baseline

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        xs = draw(jax.random.normal, key, (batch_size, self.seq_len, 1))
        a, b, c, d = (jnp.asarray(self._teacher[k], xs.dtype) for k in "ABCD")

        def step(h, x):
            h = h @ a.T + x @ b.T
            return h, h

        _, hs = jax.lax.scan(step, jnp.zeros((batch_size, self.hidden), xs.dtype), jnp.swapaxes(xs, 0, 1))
        ys = jnp.swapaxes(hs, 0, 1) @ c.T + xs @ d.T
        return Batch(xs, ys, None)

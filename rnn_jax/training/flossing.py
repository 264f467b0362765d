"""Gradient flossing (Engelken 2023): push the first layer's largest Lyapunov exponents
towards 0 before training and in episodes during it, so that gradients neither vanish nor
explode over long horizons.

The flossing loss is ``mean((λ_i - target)²)`` over the ``exponents`` largest exponents of
the first layer's forward cell (:func:`rnn_jax.analysis.dynamics.lyapunov_spectrum`, the
differentiable QR method), driven by the first ``length`` steps of one training sequence, as
their code does (RainerEngelken/GradientFlossing, ``GradientFlossing_ExampleCode.jl``:
batch 1, ``Tp = 55`` steps, 10 + ⌈Tp/10⌉ transient steps, Adam at the training rate
without clipping, on the input weights, recurrent weights and biases). Each episode is
``episode_steps`` Adam steps on that layer's parameters only; episodes run before training
(``before`` steps) and before training steps ``every, 2·every, …`` (at most ``episodes`` of
them). One difference from their code: each episode starts a fresh Adam state, where theirs
keeps one flossing optimiser for the whole run.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax

from rnn_jax import _checks
from rnn_jax.analysis import dynamics


@dataclasses.dataclass(frozen=True)
class Flossing:
    """When and how to floss (``Gradient(flossing=...)`` of a ``TrainConfig``); their example's values by default.

    Attributes:
        exponents: how many of the largest exponents are pushed towards ``target``.
        before: flossing steps before the first training step (0: none).
        every: an episode before every ``every``-th training step ...
        episodes: ... at most this many times (0: only before training).
        episode_steps: flossing steps per episode during training.
        length: steps of the sequence the exponents are measured on.
        learning_rate: Adam's rate for flossing.
        target: the value the exponents are pushed to.
    """

    exponents: int = 75
    before: int = 50
    every: int = 10
    episodes: int = 2
    episode_steps: int = 50
    length: int = 55
    learning_rate: float = 1e-3
    target: float = 0.0

    def __post_init__(self):
        _checks.positive_int(self.exponents, "exponents")
        _checks.nonneg_int(self.before, "before")
        _checks.positive_int(self.every, "every")
        _checks.nonneg_int(self.episodes, "episodes")
        _checks.positive_int(self.episode_steps, "episode_steps")
        _checks.positive_int(self.length, "length")
        _checks.number(self.learning_rate, "learning_rate", low=0.0, low_open=True)
        _checks.number(self.target, "target")
        if self.length <= self.transient:
            raise ValueError(f"length={self.length} must exceed its transient of {self.transient} steps")

    STATE_WARMUP = 10
    """Uncounted steps of the state's transient (their code)."""

    @property
    def frame_warmup(self) -> int:
        """Uncounted steps of the frame's transient: ⌈length/10⌉ (their code)."""
        return math.ceil(self.length / 10)

    @property
    def transient(self) -> int:
        """All the uncounted steps of a flossing sequence."""
        return self.STATE_WARMUP + self.frame_warmup

    def episode_before(self, step: jax.Array) -> jax.Array:
        """Whether an episode runs before training step ``step`` (0-based; traced)."""
        return ((step + 1) % self.every == 0) & ((step + 1) // self.every <= self.episodes)


def flossing_loss(cell, layer_params, xs: jax.Array, flossing: Flossing) -> jax.Array:
    """``mean((λ_i - target)²)`` of the ``flossing.exponents`` largest exponents of ``cell``
    driven by ``xs[1, length, i]``."""
    exponents = dynamics.lyapunov_spectrum(cell, layer_params, xs, num=flossing.exponents,
                                           state_warmup=flossing.STATE_WARMUP, frame_warmup=flossing.frame_warmup)
    return jnp.mean((exponents - flossing.target) ** 2)


def floss(cell, layer_params, sequences, flossing: Flossing, steps):
    """``steps`` (an int or a traced one) Adam steps on ``flossing_loss``, step ``i`` driven by
    ``sequences(i)`` (a function of a traced step index giving ``[1, length, i]`` inputs):
    ``(params, last loss)``; no step at all for ``steps = 0``."""
    tx = optax.adam(flossing.learning_rate)
    constrain = cell.hooks.constrain or (lambda params: params)

    def body(i, carry):
        params, opt_state, _ = carry
        value, grads = jax.value_and_grad(lambda p: flossing_loss(cell, p, sequences(i), flossing))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return constrain(optax.apply_updates(params, updates)), opt_state, value

    start = (layer_params, tx.init(layer_params), jnp.zeros((), jnp.float32))
    params, _, value = jax.lax.fori_loop(0, steps, body, start)
    return params, value

"""What a run carries from step to step, and what it returns."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

Hparams = dict[str, jax.Array]


class TrainState(NamedTuple):
    """Everything a run carries from step to step (per seed; the runner stacks a leading axis).

    Attributes:
        params: model parameters.
        opt_state: the injected optax state (holds ``learning_rate`` and ``clip``).
        step: ``[]`` int32, steps taken.
        key: the run's key; step ``n`` uses ``fold_in(key, n)``.
        diverged_at: ``[]`` int32, the first step whose loss or gradients were not finite,
            ``-1`` if none. From then on updates are skipped.
    """

    params: Any
    opt_state: Any
    step: jax.Array
    key: jax.Array
    diverged_at: jax.Array


class History(NamedTuple):
    """Metrics of one run (arrays gain a leading seed axis under ``vmap``).

    Attributes:
        train: per-step metrics on the training batch, each ``[steps]``.
        eval: metrics on the held-out set, each ``[len(eval_steps)]``.
    """

    train: dict[str, jax.Array]
    eval: dict[str, jax.Array]

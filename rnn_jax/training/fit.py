"""``fit``: one model on one task, the notebook convenience over :func:`make_train`."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from rnn_jax import _checks
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import Task
from rnn_jax.training.config import TrainConfig
from rnn_jax.training.trainer import make_train


def fit(
    model: SequenceModel,
    task: Task | str,
    cfg: TrainConfig | None = None,
    *,
    seed: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """Trains one model on one task: the notebook convenience over :func:`make_train`.

    Args:
        model: the model to train.
        task: a task (``tasks.get("adding", seq_len=50)``) or a registered task name.
        cfg: steps, batch size, optimiser...; its ``model``, ``task`` and ``task_options``
            are replaced.
        seed: the run's seed.

    Returns:
        ``(params, history)``: the final parameters and a dict of numpy arrays with
        ``"train"`` (per-step metrics), ``"eval"`` (held-out metrics), ``"eval_steps"``,
        ``"baseline_loss"`` and ``"diverged_at"``.
    """
    cfg = TrainConfig() if cfg is None else cfg
    cfg = dataclasses.replace(cfg, model=model, task=task, task_options=())
    trainer = make_train(cfg)
    state, history = jax.jit(trainer)(jax.random.key(_checks.nonneg_int(seed, "seed")))
    return state.params, {
        "train": {k: np.asarray(v) for k, v in history.train.items()},
        "eval": {k: np.asarray(v) for k, v in history.eval.items()},
        "eval_steps": cfg.eval_steps,
        "baseline_loss": trainer.task.baseline_loss,
        "diverged_at": int(state.diverged_at),
    }

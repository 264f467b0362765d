"""``fit``: one model on one task, the notebook convenience.

It runs the same compiled programs as the runner (:mod:`rnn_jax.training.programs`): one
initialisation, then for each chunk of ``eval_every`` steps the sampling of its batches, the
training on them and one evaluation, called from a Python loop. A re-fit with another learning rate, clip threshold, seed or number of steps compiles
nothing; the persistent compile cache serves a new process.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rnn_jax import _checks
from rnn_jax.io import compile_cache, memory_maps
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import Task
from rnn_jax.training.config import TrainConfig
from rnn_jax.training import programs
from rnn_jax.training.programs import Evaluate, Initialise, SampleBatches, TrainChunk, compiled, held_out
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
        cfg: steps, batch size, optimizer...; its ``model`` and ``task`` must be left at
            their defaults or equal ``model`` and ``task`` (a config made for another model
            is refused rather than silently replaced).
        seed: the run's seed.

    Returns:
        ``(params, history)``: the final parameters and a dict of numpy arrays with
        ``"train"`` (per-step metrics), ``"eval"`` (held-out metrics), ``"eval_steps"``,
        ``"baseline_loss"`` and ``"diverged_at"``.
    """
    cfg = TrainConfig() if cfg is None else cfg
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    for name, given in (("model", model), ("task", task)):
        default = TrainConfig.__dataclass_fields__[name].default
        if getattr(cfg, name) not in (default, given):
            raise ValueError(f"cfg.{name} differs from the {name} passed to fit, which trains the one passed: "
                             f"leave cfg.{name} at its default, or call fit(cfg.model, cfg.task, cfg)")
    cfg = dataclasses.replace(cfg, model=model, task=task, task_options=())
    seed = _checks.nonneg_int(seed, "seed")
    compile_cache.enable()  # on by default, as for the runner; RNN_JAX_COMPILE_CACHE=off turns it off
    memory_maps.relieve()  # as the runner does: XLA:CPU crashes when compiled programs fill the mapping cap
    trainer = make_train(cfg)
    steps = trainer.for_steps()
    every = cfg.eval_every
    state = compiled(Initialise(trainer.for_programs()), np.uint32(seed), trainer.default_hparams())
    evaluate, data = Evaluate(steps), held_out(trainer.task)
    evals, trains = [compiled(evaluate, state.params, data)], []
    train = TrainChunk(steps)
    for size in [every] * (cfg.steps // every) + ([cfg.steps % every] if cfg.steps % every else []):
        block = programs.block_steps(trainer, size)
        sample = SampleBatches.of(trainer, block)
        state, metrics = programs.train_chunk(lambda key, step: compiled(sample, key, step),
                                              lambda s, b: compiled(train, s, b), state, size, block)
        trains.extend(metrics)
        evals.append(compiled(evaluate, state.params, data))
    return state.params, {
        "train": {k: np.concatenate([np.asarray(t[k]) for t in trains]) for k in trains[0]},
        "eval": {k: np.stack([np.asarray(e[k]) for e in evals]) for k in evals[0]},
        "eval_steps": cfg.eval_steps,
        "baseline_loss": trainer.task.baseline_loss,
        "diverged_at": int(state.diverged_at),
    }

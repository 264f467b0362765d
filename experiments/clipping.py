"""Gradient clipping on a tanh RNN: none vs global-norm vs element-wise, across a sweep of
learning rates trained inside one program per clipping mode (Pascanu, Mikolov & Bengio 2013:
norm clipping, their Algorithm 1 with threshold 1, tames exploding gradients).

    python -m experiments.clipping
    python -m experiments.clipping --quick
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from experiments import _common
from rnn_jax import plots, results, tasks
from rnn_jax.optim import OptimConfig


@dataclasses.dataclass(frozen=True)
class Config(_common.Training):
    """No clipping vs global-norm vs element-wise clipping on a tanh RNN, learning-rate sweep."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Training.QUICK, "learning_rates": (1e-2, 1e-1), "seq_len": 10,
                                          "hidden_size": 8}

    seeds: int = 4
    run_dir: str = "runs/clipping"
    modes: tuple[str, ...] = ("none", "global_norm", "value")
    """Clipping modes (none, global_norm, value, adaptive)."""
    learning_rates: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    """Learning rates swept inside one program."""
    clip: float = 1.0
    """Threshold: max global norm, or max |g| for value clipping."""
    seq_len: int = 50
    """T of the adding problem."""
    hidden_size: int = 64
    """Hidden units."""
    recurrent_scale: float = 1.0
    """Gain on the recurrent weights at init (>1 invites exploding gradients)."""


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    task = tasks.get("adding", seq_len=cfg.seq_len)
    configs = {
        f"rnn_clip_{mode}": _common.train_config(
            cfg, task, "rnn", cfg.hidden_size, OptimConfig("sgd", cfg.learning_rates[0], clipping=mode, clip=cfg.clip))
        for mode in cfg.modes
    }
    sweep = {"learning_rate": list(cfg.learning_rates), "recurrent_scale": [cfg.recurrent_scale]}
    return finish(_common.run_all("clipping", configs, cfg, sweep=sweep, diagnose_at=[0, cfg.steps]), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    table = results.summary(res, "loss")
    baseline = float(res.runs.baseline_loss.iloc[0])
    written = _common.write_figures({
        "loss_vs_learning_rate": lambda: plots.sweep_curves(
            table, "learning_rate", baseline=baseline, title="tanh RNN, SGD: final MSE by clipping mode"),
    }, run_dir)
    _common.report(table, written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

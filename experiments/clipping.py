"""Gradient clipping on a tanh RNN: none vs global-norm vs element-wise, across a sweep of
learning rates trained inside one program per clipping mode (Pascanu, Mikolov & Bengio 2013:
norm clipping, their Algorithm 1 with threshold 1, tames exploding gradients), with or
without their regulariser Ω (``--omegas 0 2``: SGD-C and SGD-CR).

    python -m experiments.clipping
    python -m experiments.clipping --quick
    python -m experiments.clipping --task temporal_order --min-len 50 --seq-len 200 --omegas 0 2 \
        --modes global_norm --learning-rates 0.01 --init pascanu --hidden-size 50 --batch-size 20
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from experiments import _common
from rnn_jax import tasks
from rnn_jax.analysis import plots
from rnn_jax.io import results


@dataclasses.dataclass(frozen=True)
class Config(_common.Training):
    """No clipping vs global-norm vs element-wise clipping on a tanh RNN, learning-rate sweep."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Training.QUICK, "learning_rates": (1e-2, 1e-1), "seq_len": 10,
                                          "hidden_size": 8}

    seeds: int = 4
    run_dir: str = "runs/clipping"
    optimizer: str = "sgd"
    modes: tuple[str, ...] = ("none", "global_norm", "value")
    """Clipping modes, one run each: none, global_norm (optax.clip_by_global_norm), value
    (optax.clip, element-wise) or adaptive (optax.adaptive_grad_clip); --clipping is not read."""
    learning_rates: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    """Learning rates swept inside one program."""
    clip: float = 1.0
    """Threshold: max global norm, or max |g| for value clipping."""
    task: str = "adding"
    """adding (MSE) or temporal_order (Pascanu et al.'s classification of two marks' order)."""
    seq_len: int = 50
    """T, the (longest) sequence length."""
    min_len: int = 0
    """temporal_order: lengths uniform in [min-len, seq-len] (0: all seq-len)."""
    omegas: tuple[float, ...] = (0.0,)
    """α of Pascanu et al.'s regulariser Ω, one run per value (0: none; runs with α > 0 are
    named rnn_clip_MODE_omegaα)."""
    hidden_size: int = 64
    """Hidden units."""
    recurrent_scale: float = 1.0
    """Gain on the recurrent weights at init (>1 invites exploding gradients)."""


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    if cfg.task == "temporal_order":
        task = tasks.get("temporal_order", seq_len=cfg.seq_len, min_len=cfg.min_len or None)
    elif cfg.task == "adding":
        task = tasks.get("adding", seq_len=cfg.seq_len)
    else:
        raise ValueError(f"--task {cfg.task!r}: expected adding or temporal_order")
    configs = {
        f"rnn_clip_{mode}" + (f"_omega{omega:g}" if omega else ""): _common.train_config(
            dataclasses.replace(cfg, omega=omega), task, "rnn", cfg.hidden_size,
            cfg.optax(cfg.learning_rates[0], clipping=_clipping(mode)))
        for mode in cfg.modes for omega in cfg.omegas
    }
    sweep = {"learning_rate": list(cfg.learning_rates), "recurrent_scale": [cfg.recurrent_scale]}
    return finish(_common.run_all("clipping", configs, cfg, sweep=sweep, diagnose_at=[0, cfg.steps]), cfg.run_dir)


MODES = {"none": None, "global_norm": "clip_by_global_norm", "value": "clip", "adaptive": "adaptive_grad_clip"}
"""The optax transform of each clipping mode."""


def _clipping(mode: str) -> str | None:
    if mode not in MODES:
        raise ValueError(f"--modes {mode!r}: expected some of {', '.join(MODES)}")
    return MODES[mode]


def finish(res: results.Results, run_dir: str) -> results.Results:
    table = results.summary(res, "loss")
    baseline = float(res.runs.baseline_loss.iloc[0])
    figures = {"learning_curves": lambda: plots.learning_curves(res, title="tanh RNN: held-out loss")}
    if "learning_rate" in table:  # a sweep of more than one learning rate
        figures["loss_vs_learning_rate"] = lambda: plots.sweep_curves(
            table, "learning_rate", baseline=baseline, title="tanh RNN: final held-out loss by clipping mode")
    written = _common.write_figures(figures, run_dir)
    _common.report(table, written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

"""Gradient flossing on the delayed XOR task (Engelken 2023), with and without flossing.

Their example (RainerEngelken/GradientFlossing README and ``GradientFlossing_ExampleCode.jl``):
a tanh RNN of N = 80 units, J ~ N(0, 1/N) (g = 1), input weights ~ N(0, 1); delayed XOR with
d = 10 over T = 300 steps; batch 16, Adam 1e-3 with global-norm clipping at 0.03, 301
training batches; flossing the 75 largest exponents towards 0 on 55-step sequences for 50
steps before training and for 50 steps before training steps 10 and 20. Run ``rnn`` trains
without flossing, ``rnn_flossing`` with it; both start from the same initialisation per seed.

Differences from their code: our cell is ``h = tanh(W h + U s + b)`` read out from ``h``,
theirs ``x = J tanh(x) + W s + b`` read out from ``x`` (the same recurrent dynamics, another
readout); our initial state is 0, theirs learned; 300 steps for their 301 (the runner needs
whole evaluation chunks); a fresh Adam state per flossing episode.

    python -m experiments.gradient_flossing
    python -m experiments.gradient_flossing --quick
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from experiments import _common
from rnn_jax import tasks
from rnn_jax.io import results
from rnn_jax.training import Gradient
from rnn_jax.training.flossing import Flossing


@dataclasses.dataclass(frozen=True)
class Config(_common.Training):
    """Delayed XOR with and without gradient flossing (Engelken 2023): held-out accuracy of a
    tanh RNN trained at their example's setup."""

    QUICK: ClassVar[Mapping[str, Any]] = {
        **_common.Training.QUICK, "hidden_size": 8, "seq_len": 40, "delay": 5,
        "flossing": Flossing(exponents=4, before=5, episode_steps=5, length=30)}

    seeds: int = 8
    run_dir: str = "runs/gradient_flossing"
    steps: int = 300
    eval_every: int = 50
    batch_size: int = 16
    clip: float = 0.03
    learning_rate: float = 1e-3
    """Adam learning rate (theirs; flossing has its own, also 1e-3)."""
    hidden_size: int = 80
    """N, the tanh RNN's units."""
    seq_len: int = 300
    """T of the delayed XOR task."""
    delay: int = 10
    """d: the target at t is s_{t-d} XOR s_{t-2d}."""
    flossing: Flossing = Flossing()
    """The flossing of run rnn_flossing (their example's values)."""


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    task = tasks.get("delayed_xor", seq_len=cfg.seq_len, delay=cfg.delay)
    # their J ~ N(0, g²/N) with g = 1 and input weights ~ N(0, 1)
    options = {"input_init": "normal", "recurrent_init": "normal", "input_std": 1.0,
               "recurrent_scale": cfg.hidden_size ** -0.5}
    plain = _common.train_config(cfg, task, "rnn", cfg.hidden_size, cfg.optax(cfg.learning_rate), cell_options=options)
    configs = {"rnn": plain, "rnn_flossing": dataclasses.replace(plain, gradient=Gradient(flossing=cfg.flossing))}
    return finish(_common.run_all("gradient_flossing", configs, cfg, diagnose_at=[0, cfg.steps], diagnostics_batch=64),
                  cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    return _common.finish_classification(res, run_dir, "delayed XOR, with and without flossing")


if __name__ == "__main__":
    _common.cli(main, Config)

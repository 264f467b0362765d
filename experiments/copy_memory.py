"""Copy memory: loss against the memoryless baseline 10·ln8/(T+20) for each cell.

Arjovsky et al. 2016 (Fig. 1; hidden 80 RNN / 40 LSTM, RMSProp 1e-3): the LSTM beats the
baseline only at T = 100 and the tanh RNN sits on it. Bai et al. 2018 at T = 1000: LSTM
0.0204, GRU 0.0197, RNN 0.0202 (all at the baseline).

    python -m experiments.copy_memory --delays 100 200
    python -m experiments.copy_memory --quick
    python -m experiments.copy_memory --remedies      # + the ten remedies of rnn_jax.cells (h = 128)
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
    """Copy memory: cross-entropy against the 10·ln8/(T+20) baseline for each cell."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Training.QUICK, "delays": (10,), "hidden_sizes": (8, 8, 8),
                                          "remedy_hidden_size": 8}

    seeds: int = 4
    run_dir: str = "runs/copy_memory"
    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    """Cells to compare."""
    hidden_sizes: tuple[int, ...] = (80, 40, 48)
    """Hidden units per cell, in the order of --cells (Arjovsky: RNN 80, LSTM 40)."""
    delays: tuple[int, ...] = (100,)
    """T, the delays between the symbols and their recall (one run per cell and delay, CELL_T<T>)."""
    steps: int = 2000
    eval_every: int = 200
    optimizer: str = "rmsprop"
    learning_rate: float = 1e-3
    """Learning rate (Arjovsky et al. 2016: RMSProp 1e-3)."""
    remedy_hidden_size: int = 128
    """Hidden units of each --remedies cell (the size of Arjovsky et al.'s unitary RNN)."""


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    if len(cfg.hidden_sizes) != len(cfg.cells):
        raise ValueError(f"--hidden-sizes {cfg.hidden_sizes} needs one size per cell in --cells {cfg.cells}")
    optimizer = cfg.optax(cfg.learning_rate)
    cells = cfg.with_remedies(cfg.cells)
    sizes = cfg.hidden_sizes + (cfg.remedy_hidden_size,) * (len(cells) - len(cfg.cells))
    configs = {
        f"{cell}_T{delay}": _common.train_config(cfg, tasks.get("copy", delay=delay), cell, hidden, optimizer)
        for delay in cfg.delays for cell, hidden in zip(cells, sizes)
    }
    return finish(_common.run_all("copy_memory", configs, cfg, diagnose_at=[0, cfg.steps]), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    written = _common.write_figures({
        "learning_curves": lambda: plots.learning_curves(res, title="copy memory: held-out cross-entropy"),
        "accuracy": lambda: plots.learning_curves(res, "accuracy", title="copy memory: recalled symbols correct"),
    }, run_dir)
    _common.report(results.summary(res), written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

"""Copy memory: loss against the memoryless baseline 10·ln8/(T+20) for each cell.

Arjovsky et al. 2016 (Fig. 1; hidden 80 RNN / 40 LSTM, RMSProp 1e-3): the LSTM beats the
baseline only at T = 100 and the tanh RNN sits on it. Bai et al. 2018 at T = 1000: LSTM
0.0204, GRU 0.0197, RNN 0.0202 (all at the baseline).

    python -m experiments.copy_memory --delay 100
    python -m experiments.copy_memory --quick
"""

from __future__ import annotations

import dataclasses

from experiments import _common
from rnn_jax import plots, results, tasks
from rnn_jax.optim import OptimConfig


@dataclasses.dataclass(frozen=True)
class Config(_common.Common):
    """Copy memory: cross-entropy against the 10·ln8/(T+20) baseline for each cell."""

    seeds: int = 4
    """Seeds per cell."""
    run_dir: str = "runs/copy_memory"
    """Where results and figures go; rerunning on an existing directory resumes it."""
    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    """Cells to compare."""
    hidden_sizes: tuple[int, ...] = (80, 40, 48)
    """Hidden units per cell, in the order of --cells (Arjovsky: RNN 80, LSTM 40)."""
    delay: int = 100
    """T, the delay between the symbols and their recall."""
    steps: int = 2000
    """Training steps."""
    eval_every: int = 200
    """Steps between evaluations."""
    batch_size: int = 32
    """Sequences per step."""
    learning_rate: float = 1e-3
    """RMSProp learning rate (Arjovsky et al. 2016)."""
    clip: float = 1.0
    """Global-norm clip threshold."""


QUICK = dict(seeds=2, delay=10, hidden_sizes=(8, 8, 8), steps=40, eval_every=20, batch_size=16)


def main(cfg: Config) -> results.Results:
    cfg = _common.with_quick(cfg, QUICK)
    _common.check_common(cfg)
    if len(cfg.hidden_sizes) != len(cfg.cells):
        raise ValueError(f"--hidden-sizes {cfg.hidden_sizes} needs one size per cell in --cells {cfg.cells}")
    task = tasks.get("copy", delay=cfg.delay)
    optim = OptimConfig("rmsprop", cfg.learning_rate, clip=cfg.clip)
    configs = {
        cell: _common.train_config(task, cell, hidden, steps=cfg.steps, eval_every=cfg.eval_every,
                                   batch_size=cfg.batch_size, optim=optim)
        for cell, hidden in zip(cfg.cells, cfg.hidden_sizes)
    }
    paths = _common.run_all("copy_memory", configs, cfg, diagnose_at=[0, cfg.steps])
    return finish(results.load(paths), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    written = _common.write_figures({
        "learning_curves": lambda: plots.learning_curves(res, title="copy memory: held-out cross-entropy"),
        "accuracy": lambda: plots.learning_curves(res, "accuracy", title="copy memory: recalled symbols correct"),
    }, f"{run_dir}/figures")
    _common.report(results.summary(res), written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

"""The adding problem against sequence length: final MSE and success rate per cell.

Hochreiter & Schmidhuber 1997 (Table 7) report the LSTM solving T = 100, 500, 1000;
Arjovsky et al. 2016 find the LSTM beats the 1/6 baseline up to T = 400 and the tanh RNN
never does; Bai et al. 2018 (T = 600): GRU 5.3e-5, LSTM 0.164, tanh RNN 0.177.

    python -m experiments.adding_problem --seq-lens 50 100 200 400
    python -m experiments.adding_problem --quick
"""

from __future__ import annotations

import dataclasses

from experiments import _common
from rnn_jax import plots, results, tasks
from rnn_jax.optim import OptimConfig
from rnn_jax.tasks.adding import TOLERANCE


@dataclasses.dataclass(frozen=True)
class Config(_common.Common):
    """Adding problem: success and final MSE against sequence length for each cell."""

    seeds: int = 4
    """Seeds per cell and length."""
    run_dir: str = "runs/adding_problem"
    """Where results and figures go; rerunning on an existing directory resumes it."""
    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    """Cells to compare."""
    seq_lens: tuple[int, ...] = (50, 100, 200, 400)
    """Sequence lengths T."""
    variant: str = "arjovsky"
    """Adding-problem variant: arjovsky or hs97."""
    hidden_size: int = 64
    """Hidden units."""
    steps: int = 3000
    """Training steps."""
    eval_every: int = 250
    """Steps between evaluations."""
    batch_size: int = 32
    """Sequences per step."""
    learning_rate: float = 3e-3
    """Adam learning rate."""
    clip: float = 1.0
    """Global-norm clip threshold."""


QUICK = dict(seeds=2, seq_lens=(10, 20), hidden_size=8, steps=40, eval_every=20, batch_size=16)


def main(cfg: Config) -> results.Results:
    cfg = _common.with_quick(cfg, QUICK)
    _common.check_common(cfg)
    optim = OptimConfig("adam", cfg.learning_rate, clip=cfg.clip)
    configs = {}
    for seq_len in cfg.seq_lens:
        task = tasks.get("adding", seq_len=seq_len, variant=cfg.variant)
        for cell in cfg.cells:
            configs[f"{cell}_T{seq_len}"] = _common.train_config(
                task, cell, cfg.hidden_size, steps=cfg.steps, eval_every=cfg.eval_every,
                batch_size=cfg.batch_size, optim=optim)
    paths = _common.run_all("adding_problem", configs, cfg, diagnose_at=[0, cfg.steps])
    return finish(results.load(paths), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    table = results.summary(res)
    written = _common.write_figures({
        "success_vs_length": lambda: plots.success_vs_length(
            table, metric="accuracy", title=f"adding problem: fraction with |error| < {TOLERANCE}"),
        "mse_vs_length": lambda: plots.success_vs_length(table, metric="loss", title="adding problem: final MSE"),
    }, f"{run_dir}/figures")
    _common.report(table, written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

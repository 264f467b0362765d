"""The adding problem against sequence length: final MSE and success rate per cell.

Hochreiter & Schmidhuber 1997 (Table 7) report the LSTM solving T = 100, 500, 1000;
Arjovsky et al. 2016 find the LSTM beats the 1/6 baseline up to T = 400 and the tanh RNN
never does; Bai et al. 2018 (T = 600): GRU 5.3e-5, LSTM 0.164, tanh RNN 0.177.

    python -m experiments.adding_problem --seq-lens 50 100 200 400
    python -m experiments.adding_problem --quick
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from experiments import _common
from rnn_jax import tasks
from rnn_jax.analysis import plots
from rnn_jax.io import results
from rnn_jax.tasks.adding import TOLERANCE


@dataclasses.dataclass(frozen=True)
class Config(_common.Comparison):
    """Adding problem: success and final MSE against sequence length for each cell."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Comparison.QUICK, "seq_lens": (10, 20)}

    seeds: int = 4
    run_dir: str = "runs/adding_problem"
    seq_lens: tuple[int, ...] = (50, 100, 200, 400)
    """Sequence lengths T."""
    variant: str = "arjovsky"
    """Adding-problem variant: arjovsky or hs97."""
    eval_size: int = 1000
    """Held-out sequences (Hochreiter & Schmidhuber 1997 test on 2560)."""
    steps: int = 3000
    eval_every: int = 250


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    configs = _common.cell_grid(cfg, {f"T{T}": tasks.get("adding", seq_len=T, variant=cfg.variant, eval_size=cfg.eval_size) for T in cfg.seq_lens})
    return finish(_common.run_all("adding_problem", configs, cfg, diagnose_at=[0, cfg.steps]), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    table = results.summary(res)
    written = _common.write_figures({
        "success_vs_length": lambda: plots.success_vs_length(
            table, metric="accuracy", title=f"adding problem: fraction with |error| < {TOLERANCE}"),
        "mse_vs_length": lambda: plots.success_vs_length(table, metric="loss", title="adding problem: final MSE"),
    }, run_dir)
    _common.report(table, written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

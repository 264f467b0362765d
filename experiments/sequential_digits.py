"""Sequential digits: scikit-learn's 8×8 digits read pixel by pixel (T = 64), plain and
permuted, test accuracy for each cell. A small offline stand-in for (permuted) sequential
MNIST, where Le et al. 2015 report IRNN 97% / 82% and tanh RNN 35% / 35%.

    python -m experiments.sequential_digits
    python -m experiments.sequential_digits --quick
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from experiments import _common
from rnn_jax import tasks
from rnn_jax.io import results


@dataclasses.dataclass(frozen=True)
class Config(_common.Comparison):
    """Pixel-by-pixel and permuted 8×8 digits: test accuracy for each cell."""

    seeds: int = 4
    run_dir: str = "runs/sequential_digits"
    orderings: tuple[Literal["plain", "permuted"], ...] = ("plain", "permuted")
    """Pixel orders: plain (row by row) and/or permuted (one fixed random permutation)."""
    steps: int = 1500
    eval_every: int = 150
    batch_size: int = 64


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    configs = _common.cell_grid(cfg, {order: tasks.get("digits", permuted=order == "permuted") for order in cfg.orderings})
    return finish(_common.run_all("sequential_digits", configs, cfg, diagnose_at=[0, cfg.steps], diagnostics_batch=64), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    return _common.finish_classification(res, run_dir, "sequential digits")


if __name__ == "__main__":
    _common.cli(main, Config)

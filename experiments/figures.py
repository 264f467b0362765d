"""Redraw every figure from existing run directories, without retraining.

    python -m experiments.figures                                   # every default run dir found
    python -m experiments.figures --run-dirs runs/vanishing_gradients runs/clipping
"""

from __future__ import annotations

import dataclasses
import importlib
import os

from experiments import _common
from rnn_jax.io import results, rundir

DEFAULT_DIRS = ("runs/vanishing_gradients", "runs/adding_problem", "runs/copy_memory",
                "runs/sequential_digits", "runs/clipping", "runs/mnist1d")


@dataclasses.dataclass(frozen=True)
class Config:
    """Regenerate the figures of finished experiments from their run directories."""

    run_dirs: tuple[str, ...] = ()
    """Experiment run directories (default: each experiment's default --run-dir that exists)."""
    pdf: bool = False
    """Also write each figure as PDF, beside its PNG."""


def redraw(run_dir: str) -> None:
    """Calls the experiment's own ``finish`` on the stored results of ``run_dir``."""
    info = rundir.read_experiment(run_dir)
    module = importlib.import_module(f"experiments.{info['experiment']}")
    module.finish(results.load(info["run_dirs"]), run_dir)


def main(cfg: Config) -> None:
    dirs = cfg.run_dirs or tuple(d for d in DEFAULT_DIRS if os.path.isdir(d))
    if not dirs:
        raise ValueError("no run directories given and none of the defaults exist; pass --run-dirs")
    for run_dir in dirs:
        print(f"== {run_dir}")
        redraw(run_dir)


if __name__ == "__main__":
    _common.cli(main, Config)

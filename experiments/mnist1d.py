"""MNIST-1D (Greydanus & Kobak 2024): the reference bidirectional GRU beside last-state cells.

The MNIST-1D README and its ``notebooks/models.py`` report 91% test accuracy for a GRU that
is bidirectional with hidden size 6 and whose linear head reads all 40 outputs (Adam 1e-2,
batch 100, 8000 steps); a CNN reaches 94%, an MLP 68%, logistic regression 32%. This trains
that model (run ``gru_bidir_flat``) and, beside it, unidirectional cells whose head reads
only the last state (runs ``rnn``, ``lstm``, ``gru``), all with PyTorch's default init.

    python -m experiments.mnist1d
    python -m experiments.mnist1d --quick
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from experiments import _common
from rnn_jax import tasks
from rnn_jax.io import results


@dataclasses.dataclass(frozen=True)
class Config(_common.Training):
    """MNIST-1D: the reference bidirectional GRU (hidden 6, head over all 40 outputs) and
    last-state cells, test accuracy."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Training.QUICK, "last_state_hidden_size": 8}

    seeds: int = 4
    run_dir: str = "runs/mnist1d"
    steps: int = 8000
    eval_every: int = 500
    batch_size: int = 100
    learning_rate: float = 1e-2
    """Adam learning rate (the reference's)."""
    reference_hidden_size: int = 6
    """Hidden units per direction of the reference bidirectional GRU."""
    last_state_cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    """Unidirectional cells whose head reads the last state (pass none to skip)."""
    last_state_hidden_size: int = 32
    """Their hidden units."""

    MAY_BE_EMPTY: ClassVar[tuple[str, ...]] = (*_common.Training.MAY_BE_EMPTY, "last_state_cells")


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    task = tasks.get("mnist1d")
    optimizer = cfg.optax(cfg.learning_rate)
    configs = {"gru_bidir_flat": _common.train_config(cfg, task, "gru", cfg.reference_hidden_size, optimizer,
                                                      bidirectional=True, readout="flat")}
    configs.update({cell: _common.train_config(cfg, task, cell, cfg.last_state_hidden_size, optimizer)
                    for cell in cfg.last_state_cells})
    return finish(_common.run_all("mnist1d", configs, cfg, diagnose_at=[0, cfg.steps], diagnostics_batch=64), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    return _common.finish_classification(res, run_dir, "MNIST-1D")


if __name__ == "__main__":
    _common.cli(main, Config)

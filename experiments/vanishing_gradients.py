"""Vanishing gradients: tanh RNN vs LSTM vs GRU on the adding problem, many seeds at once.

Reproduces the analogue of Arjovsky, Shah & Bengio 2016, Fig. 4: ‖∂L/∂h_t‖ against t at
initialisation and after training, with a confidence band over seeds; plus learning curves
against the trivial 1/6 baseline, W_hh spectra and the recurrent eigenvalues on the complex
plane, and prints a summary table. ``--remedies`` adds the cells beyond gating: exprnn
and scornn (orthogonal), urnn (unitary), lru (diagonal linear), mingru and minlstm, indrnn
(element-wise), cornn and lem (oscillator ODEs) and antisymmetric (W - Wᵀ).

The gated cells use chrono initialisation (Tallec & Ollivier 2018) with T_max = T; the LSTM
is trained a second time with PyTorch's default initialisation (run ``lstm_torch_init``),
whose forget gate sits near σ(0) = 0.5, to show what the recipe changes.

    python -m experiments.vanishing_gradients              # defaults: 8 seeds, ~3 min on 2 CPU cores
    python -m experiments.vanishing_gradients --quick      # seconds
    python -m experiments.vanishing_gradients --remedies   # + the ten remedies of rnn_jax.cells
    python -m experiments.figures --run-dirs runs/vanishing_gradients   # redraw only
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
class Config(_common.Comparison):
    """tanh RNN vs LSTM vs GRU on the adding problem: gradient norm against time step at
    initialisation and after training, learning curves against the 1/6 baseline."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Comparison.QUICK, "seq_len": 30, "torch_init_cells": ()}
    MAY_BE_EMPTY: ClassVar[tuple[str, ...]] = (*_common.Comparison.MAY_BE_EMPTY, "torch_init_cells")

    run_dir: str = "runs/vanishing_gradients"
    seq_len: int = 100
    """T of the adding problem."""
    hidden_size: int = 32
    steps: int = 1500
    torch_init_cells: tuple[str, ...] = ("lstm",)
    """Cells trained once more with PyTorch's default initialisation, for comparison (run
    CELL_torch_init); pass none to skip."""


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    task = tasks.get("adding", seq_len=cfg.seq_len)
    optimizer = cfg.optax(cfg.learning_rate)
    runs = [(cell, cell, _common.cell_options(cfg, cell, task)) for cell in cfg.with_remedies(cfg.cells)]
    runs += [(f"{cell}_torch_init", cell, {}) for cell in cfg.torch_init_cells
             if cell in cfg.cells and cell in cfg.chrono_cells]
    configs = {
        name: _common.train_config(cfg, task, cell, cfg.layer_sizes, optimizer, cell_options=options)
        for name, cell, options in runs
    }
    res = _common.run_all("vanishing_gradients", configs, cfg, diagnose_at=sorted({0, cfg.eval_every, cfg.steps}))
    return finish(res, cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    """Figures and the summary table from the loaded results (also used by experiments.figures)."""
    figures = {
        "grad_norms": lambda: plots.grad_norms(res, title="‖∂L/∂h_t‖ on the adding problem"),
        "learning_curves": lambda: plots.learning_curves(res, title="adding problem: held-out MSE"),
    }
    if len(res.eigenvalues):  # some cell has a recurrent matrix (mingru and minlstm have none)
        figures["spectra"] = lambda: plots.spectra(res)
        figures["eigenvalues"] = lambda: plots.eigenvalues(res, title="recurrent eigenvalues, initialisation and trained")
    if len(res.lyapunov):  # runs recorded before the exponents were have none
        figures["lyapunov"] = lambda: plots.lyapunov(res, title="Lyapunov exponents, initialisation and trained")
    written = _common.write_figures(figures, run_dir)
    table = results.summary(res)
    _common.report(table, written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

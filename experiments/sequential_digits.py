"""Sequential digits: scikit-learn's 8×8 digits read pixel by pixel (T = 64), plain and
permuted, test accuracy for each cell. A small offline stand-in for (permuted) sequential
MNIST, where Le et al. 2015 report IRNN 97% / 82% and tanh RNN 35% / 35%.

    python -m experiments.sequential_digits
    python -m experiments.sequential_digits --quick
"""

from __future__ import annotations

import dataclasses

from experiments import _common
from rnn_jax import plots, results, tasks
from rnn_jax.optim import OptimConfig


@dataclasses.dataclass(frozen=True)
class Config(_common.Common):
    """Pixel-by-pixel and permuted 8×8 digits: test accuracy for each cell."""

    seeds: int = 4
    """Seeds per cell and ordering."""
    run_dir: str = "runs/sequential_digits"
    """Where results and figures go; rerunning on an existing directory resumes it."""
    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    """Cells to compare."""
    orderings: tuple[str, ...] = ("plain", "permuted")
    """Pixel orders: plain and/or permuted."""
    hidden_size: int = 64
    """Hidden units."""
    steps: int = 1500
    """Training steps."""
    eval_every: int = 150
    """Steps between evaluations."""
    batch_size: int = 64
    """Images per step."""
    learning_rate: float = 3e-3
    """Adam learning rate."""
    clip: float = 1.0
    """Global-norm clip threshold."""


QUICK = dict(seeds=2, hidden_size=8, steps=40, eval_every=20, batch_size=16)


def main(cfg: Config) -> results.Results:
    cfg = _common.with_quick(cfg, QUICK)
    _common.check_common(cfg)
    bad = set(cfg.orderings) - {"plain", "permuted"}
    if bad:
        raise ValueError(f"--orderings {sorted(bad)}: expected plain and/or permuted")
    optim = OptimConfig("adam", cfg.learning_rate, clip=cfg.clip)
    configs = {}
    for ordering in cfg.orderings:
        task = tasks.get("digits", permuted=ordering == "permuted")
        for cell in cfg.cells:
            configs[f"{cell}_{ordering}"] = _common.train_config(
                task, cell, cfg.hidden_size, steps=cfg.steps, eval_every=cfg.eval_every,
                batch_size=cfg.batch_size, optim=optim)
    paths = _common.run_all("sequential_digits", configs, cfg, diagnose_at=[0, cfg.steps], diagnostics_batch=64)
    return finish(results.load(paths), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> results.Results:
    written = _common.write_figures({
        "accuracy": lambda: plots.learning_curves(res, "accuracy", title="sequential digits: test accuracy"),
        "learning_curves": lambda: plots.learning_curves(res, title="sequential digits: test cross-entropy"),
    }, f"{run_dir}/figures")
    _common.report(results.summary(res), written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

"""What every experiment shares: the common CLI options, the --quick preset, running one
model per cell through the runner, and reporting. Experiments stay thin on top of this."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from rnn_jax import plots, results, runner
from rnn_jax.optim import OptimConfig
from rnn_jax.train import TrainConfig, model_for

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class Common:
    seeds: int = 8
    """Seeds per configuration (trained together in one program)."""
    run_dir: str = ""
    """Where results and figures go; rerunning on an existing directory resumes it."""
    quick: bool = False
    """A tiny preset that finishes in well under a minute (for tests and smoke runs)."""
    progress: bool = True
    """Show a progress bar."""


def cli(main: Callable[[Any], Any], config_type: type) -> None:
    """Parses the command line into ``config_type`` (tyro) and runs ``main``; a bad value
    that the library refuses ends the program with its one-line message and exit code 2."""
    import tyro

    cfg = tyro.cli(config_type)
    try:
        main(cfg)
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def with_quick(cfg: C, quick: Mapping[str, Any]) -> C:
    """``cfg`` with the ``quick`` values for every field still at its default (when --quick)."""
    if not cfg.quick:
        return cfg
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    changes = {k: v for k, v in quick.items() if getattr(cfg, k) == defaults[k]}
    return dataclasses.replace(cfg, **changes)


def check_common(cfg: Common) -> None:
    """Experiment options that the library cannot check for us (exits 2 with a message)."""
    problems = []
    if cfg.seeds < 1:
        problems.append(f"--seeds {cfg.seeds}: expected a positive number of seeds")
    if not cfg.run_dir:
        problems.append("--run-dir: expected a directory path")
    if problems:
        raise ValueError("; ".join(problems))


def train_config(task, cell: str, hidden_size: int, *, steps: int, eval_every: int, batch_size: int,
                 optim: OptimConfig, **model_options) -> TrainConfig:
    return TrainConfig(
        model=model_for(task, cell, hidden_size, **model_options), task=task, optim=optim,
        steps=steps, batch_size=batch_size, eval_every=eval_every,
    )


def run_all(experiment: str, configs: Mapping[str, TrainConfig], cfg: Common, *, sweep=None,
            **run_options) -> list[str]:
    """Runs each named TrainConfig into ``run_dir/name``; returns the run directories.

    ``run_dir/experiment.json`` records which experiment made the directory and its runs, so
    ``python -m experiments.figures`` can redraw the figures without retraining.
    """
    os.makedirs(cfg.run_dir, exist_ok=True)
    runner.save_json(os.path.join(cfg.run_dir, "experiment.json"),
                     {"experiment": experiment, "runs": list(configs), "options": dataclasses.asdict(cfg)})
    paths = []
    for name, train_cfg in configs.items():
        path = os.path.join(cfg.run_dir, name)
        print(f"== {name}: {train_cfg.model.cell} on {train_cfg.task_fn.name}, {cfg.seeds} seeds -> {path}", flush=True)
        runner.run(train_cfg, seeds=cfg.seeds, sweep=sweep, run_dir=path, progress=cfg.progress, **run_options)
        paths.append(path)
    return paths


def write_figures(figures: Mapping[str, Callable[[], Any]], directory: str) -> list[str]:
    written = []
    for name, make in figures.items():
        written += plots.save(make(), directory, name)
    return written


def report(table, figures: Sequence[str], run_dir: str) -> None:
    import pandas as pd

    with pd.option_context("display.width", 120, "display.max_columns", 20, "display.precision", 4):
        print(table.to_string(index=False))
    print(f"\nresults: {os.path.abspath(run_dir)}")
    for path in figures:
        print(f"figure:  {path}")


def load(run_dir: str) -> results.Results:
    return results.load(run_dir)

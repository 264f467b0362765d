"""What the experiments that measure rather than train share (``newton_iterations``,
``dynamics``, ``curse_of_memory``): their common options, and a table of measurements (one
row per setting and seed) written beside its figure and read back by
``experiments.reproduce``, whose :class:`~experiments.claims.Measured` checks read it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pandas as pd

from rnn_jax.analysis import plots
from rnn_jax.io import rundir

MEASUREMENTS = "measurements.csv"


@dataclasses.dataclass(frozen=True)
class Measuring:
    seeds: int = 4
    """Networks (or independent estimates) per setting."""
    run_dir: str = ""
    """Where the measurements and the figure go."""
    quick: bool = False
    """A tiny preset that finishes in seconds (for tests and smoke runs)."""
    progress: bool = True
    """Print each measurement."""


def write(rows: list[dict], run_dir: str, figure: Callable[[pd.DataFrame], object], name: str) -> pd.DataFrame:
    """The rows as a table in ``run_dir`` (:data:`MEASUREMENTS`) and ``figure(table)`` as ``name``."""
    frame = pd.DataFrame(rows)
    os.makedirs(run_dir, exist_ok=True)
    frame.to_csv(os.path.join(run_dir, MEASUREMENTS), index=False)
    plots.save(figure(frame), rundir.figures_dir(run_dir), name)
    return frame


def load(run_dir: str) -> pd.DataFrame:
    """The measurements a run wrote."""
    return pd.read_csv(os.path.join(run_dir, MEASUREMENTS))

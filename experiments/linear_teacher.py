"""The curse of memory (Zucchet & Orvieto 2024), part 2: students of a linear teacher whose
memory grows.

A fixed random linear teacher (``linear_system`` task: 10 hidden units, eigenvalue moduli in
``[ν₀, 1)``, T = 300) is learned by two students: a dense linear RNN (our ``rnn`` cell with
``activation="linear"``, 64 units) and an LRU (64 complex modes, its ring initialised on the
teacher's, ``[ν₀, 1)``). Each trains at every learning rate of its grid (one program per
student and ν₀: seeds × learning rates); as in their figure, each student's loss at a ν₀ is
its final held-out loss at the learning rate whose mean over seeds is lowest. Their claim:
as ν₀ → 1 the dense RNN's loss rises by orders of magnitude, the LRU's does not.

Their setup (``scans/comparison_architectures_LSI_*.yaml``, ``run_train.py``): Adam with a
cosine decay to 1e-7 over 10,000 steps of batch 128; learning rates 3.2e-5 … 3.2e-3 (RNN)
and 3.2e-3 … 0.32 (LRU), five each; ν₀ ∈ {0.36, 0.68, 0.84, 0.92, 0.96, 0.98, 0.99}; 10
seeds. Their dense RNN starts from ``A ~ N(0, 1/64)`` with eigenvalue moduli moved to
``tanh|l|`` (at most tanh 1 = 0.76), no biases, input weights ~ N(0, 1). Ours draws W_hh from
a circular law of radius tanh 1 (the same largest modulus, without moving the moduli), no
biases, W_ih ~ N(0, 1). Both students read out through our model's linear head, where their
models' output layer is their readout itself (a product of two linear maps, the same class
of functions). The loss is the mean squared error, twice theirs. The defaults are scaled to
this CPU: see ``experiments.reproduce``'s claim ``curse_of_memory_teacher``.

    python -m experiments.linear_teacher
    python -m experiments.linear_teacher --quick
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from experiments import _common, _measurements
from rnn_jax import tasks
from rnn_jax.analysis import plots
from rnn_jax.io import results

RNN_RADIUS = math.tanh(1.0)
"""The largest eigenvalue modulus of their dense RNN's initial A (tanh of the circular law's radius 1)."""


@dataclasses.dataclass(frozen=True)
class Config(_common.Training):
    """A dense linear RNN and an LRU learning a linear teacher whose memory ν₀ grows
    (Zucchet & Orvieto 2024, Fig. 3A), each at its best learning rate per ν₀."""

    QUICK: ClassVar[Mapping[str, Any]] = {
        **_common.Training.QUICK, "nu0s": (0.36, 0.96), "seq_len": 30, "hidden_size": 8,
        "rnn_learning_rates": (1e-3,), "lru_learning_rates": (0.01,)}

    seeds: int = 3
    run_dir: str = "runs/linear_teacher"
    steps: int = 3000
    eval_every: int = 300
    batch_size: int = 32
    nu0s: tuple[float, ...] = (0.36, 0.84, 0.96, 0.99)
    """ν₀ of the teachers: the smallest modulus of their eigenvalues."""
    seq_len: int = 300
    """T."""
    hidden_size: int = 64
    """The dense RNN's units and the LRU's complex modes (its carry has twice as many reals)."""
    teacher_hidden: int = 10
    """The teacher's hidden units."""
    rnn_learning_rates: tuple[float, ...] = (3.2e-3, 1e-3, 3.2e-4, 1e-4)
    """Adam learning rates of the dense RNN (swept in one program)."""
    lru_learning_rates: tuple[float, ...] = (0.1, 0.032, 0.01)
    """Adam learning rates of the LRU (swept in one program)."""


def _dense_rnn(cfg: Config, task) -> tuple[str, int, dict[str, Any]]:
    return "rnn", cfg.hidden_size, {"activation": "linear", "bias": False, "input_init": "normal", "input_std": 1.0,
                                    "recurrent_init": "normal", "recurrent_scale": RNN_RADIUS / math.sqrt(cfg.hidden_size)}


def _lru(cfg: Config, task) -> tuple[str, int, dict[str, Any]]:
    return "lru", 2 * cfg.hidden_size, {"r_min": task.min_nu, "r_max": 1.0}


STUDENTS = {"rnn": _dense_rnn, "lru": _lru}
"""Each student's cell, hidden size and cell options for a teacher."""
DENSE = "rnn"
"""The student the others are compared with (``over_rnn``)."""


def student(cfg: Config, name: str, task) -> _common.TrainConfig:
    """The student ``name`` of ``task``: Adam with a cosine decay to 0 over the run, no clipping."""
    optimizer = cfg.optax(1.0, clipping=None, cosine_steps=cfg.steps)
    cell, hidden, options = STUDENTS[name](cfg, task)
    return _common.train_config(cfg, task, cell, hidden, optimizer, cell_options=options)


def run_name(name: str, nu0: float) -> str:
    return f"{name}_nu{nu0:g}"


def _parse(run: str) -> tuple[str, float]:
    name, _, nu0 = run.rpartition("_nu")
    return name, float(nu0)


def table(res: results.Results) -> pd.DataFrame:
    """One row per student, ν₀ and seed at the student's best learning rate for that ν₀ (the
    lowest mean over seeds of the final held-out loss; a diverged seed counts as missing):
    ``loss``, ``relative`` (to the memoryless baseline), ``rise`` (over the same seed's
    loss at the smallest ν₀) and ``over_rnn`` (over the dense RNN's, same seed and ν₀)."""
    final = res.final("loss").replace([np.inf, -np.inf], np.nan)
    baselines = dict(zip(res.runs.run, res.runs.baseline_loss))
    rows = []
    for run in res.runs.run:
        name, nu0 = _parse(run)
        part = final[final.run == run]
        means = part.groupby("learning_rate").value.mean()
        lr = float(means.idxmin()) if means.notna().any() else float(means.index[0])
        best = part[part.learning_rate == lr]
        rows += [{"student": name, "nu0": nu0, "seed": int(seed), "learning_rate": lr, "loss": float(loss),
                  "relative": float(loss) / baselines[run]} for seed, loss in zip(best.seed, best.value)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    first = frame[frame.nu0 == frame.nu0.min()].set_index(["student", "seed"]).loss
    rnn = frame[frame.student == DENSE].set_index(["nu0", "seed"]).loss
    frame["rise"] = [loss / first.get((s, seed), np.nan) for s, seed, loss in zip(frame.student, frame.seed, frame.loss)]
    frame["over_rnn"] = [loss / rnn.get((nu0, seed), np.nan) for nu0, seed, loss in zip(frame.nu0, frame.seed, frame.loss)]
    return frame


load = _measurements.load


def figure(frame: pd.DataFrame):
    fig, axes = plots._figure(ncols=2, width=7.6)
    x = lambda nu0: -np.log2(1 - np.asarray(nu0, dtype=np.float64))  # noqa: E731  halving 1 - ν₀ is one step
    for k, (name, rows) in enumerate(frame.groupby("student", sort=False)):
        colour = plots.OKABE_ITO[(5, 1)[k % 2]]
        for ax, column in zip(axes, ("loss", "relative")):
            stats = rows.groupby("nu0")[column].agg(["mean", "sem"]).reset_index()
            ax.errorbar(x(stats.nu0), stats["mean"], yerr=stats["sem"].fillna(0.0), color=colour, marker="o",
                        markersize=3, label=f"{name} (mean ± sem over seeds, best lr)")
            ax.scatter(x(rows.nu0), rows[column], color=colour, s=6, alpha=0.5)
    nu0s = sorted(frame.nu0.unique())
    for ax, ylabel in zip(axes, ("final held-out loss (MSE)", "loss / memoryless baseline")):
        ax.set(yscale="log", xlabel="ν₀ (the teacher's memory)", ylabel=ylabel)
        ax.set_xticks(x(nu0s), [f"{v:g}" for v in nu0s])
    axes[0].legend(fontsize=6)
    fig.suptitle("Students of a linear teacher (Zucchet & Orvieto 2024, Fig. 3A)", fontsize=8)
    return fig


def main(cfg: Config) -> pd.DataFrame:
    cfg = _common.start(cfg)
    if not cfg.nu0s or not all(0.0 <= nu0 < 1.0 for nu0 in cfg.nu0s):
        raise ValueError(f"--nu0s {cfg.nu0s!r}: expected values in [0, 1)")
    configs, sweeps = {}, {}
    for nu0 in cfg.nu0s:
        task = tasks.get("linear_system", seq_len=cfg.seq_len, min_nu=float(nu0), hidden=cfg.teacher_hidden)
        for name in STUDENTS:
            configs[run_name(name, nu0)] = student(cfg, name, task)
            sweeps[run_name(name, nu0)] = {"learning_rate": list(getattr(cfg, f"{name}_learning_rates"))}
    return finish(_common.run_all("linear_teacher", configs, cfg, sweeps=sweeps), cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> pd.DataFrame:
    """The table (:data:`~experiments._measurements.MEASUREMENTS`) and its figure from the
    loaded results (also used by experiments.figures)."""
    frame = _measurements.write(table(res).to_dict("records"), run_dir, figure, "students")
    summary = frame.groupby(["student", "nu0"])[["learning_rate", "loss", "relative", "rise", "over_rnn"]].mean()
    print(summary.to_string())
    print(f"\nresults: {os.path.abspath(run_dir)}")
    return frame


if __name__ == "__main__":
    _common.cli(main, Config)

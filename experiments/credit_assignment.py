"""How far back credit reaches: full BPTT, truncated BPTT and the online rules side by side.

An LSTM, a GRU and an LRU (one layer each) learn the echo task (``rnn_jax.tasks.Echo``:
repeat a cue bit exactly L steps after it was shown, one bit of memory whatever L) at lags
around and beyond a window of k steps. Every rule but full BPTT sees each training sequence as a stream cut
into windows of k steps and updates after each window, the carry passed along
(``Gradient(truncation=k, stateful=True)``):

* ``bptt``: full backpropagation through time, one update per sequence (the reference);
* ``tbptt``: BPTT truncated at the window, as Keras's ``stateful=True`` and PyTorch's
  detached carry do: no credit reaches further back than k steps;
* ``rtrl``, ``uoro``, ``snap1``, ``snap2``, ``diagonal`` (:mod:`rnn_jax.credit`): the
  forward-mode rules carry the parameters' influence across windows, so credit can reach
  past k (exactly for RTRL and, on diagonal recurrences such as the LRU, the diagonal rule).

A rule a cell cannot use (the diagonal rule on an LSTM) is skipped with its reason. The
runner records each rule's gradient against full BPTT's on held-out sequences
(``credit_alignment``: cosine, variance over draws) at initialisation and at the end.
Figures: final held-out accuracy against the lag, and the cosine with BPTT at
initialisation against the lag, one panel per cell, one line per rule; the learning curves
at the longest lag.

    python -m experiments.credit_assignment            # defaults: 4 seeds
    python -m experiments.credit_assignment --quick    # seconds
    python -m experiments.figures --run-dirs runs/credit_assignment   # redraw only
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from experiments import _common
from rnn_jax import credit, tasks
from rnn_jax.analysis import plots
from rnn_jax.io import results, rundir
from rnn_jax.training import Gradient, TrainConfig

TRUNCATED = "tbptt"
"""The rule name of BPTT truncated at the window (``Gradient("bptt", truncation=k, stateful=True)``)."""
RULES = (credit.Rule.BPTT.value, TRUNCATED, *(rule.value for rule in credit.Rule if rule.forward))
_RUN = re.compile(r"^(?P<cell>.+)_(?P<rule>[a-z0-9]+)_lag(?P<lag>\d+)$")


@dataclasses.dataclass(frozen=True)
class Config(_common.Comparison):
    """BPTT, truncated BPTT, RTRL, UORO, SnAp and the diagonal rule on the echo task at lags
    around and beyond the truncation window, on an LSTM, a GRU and an LRU."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Comparison.QUICK, "cells": ("gru",), "lags": (2, 6),
                                          "seq_len": 16, "window": 4, "hidden_size": 4,
                                          "rules": ("bptt", "tbptt", "uoro", "diagonal")}

    run_dir: str = "runs/credit_assignment"
    seeds: int = 4
    cells: tuple[str, ...] = ("lstm", "gru", "lru")
    chrono_cells: tuple[str, ...] = ()
    rules: tuple[str, ...] = ("bptt", "tbptt", "rtrl", "uoro", "snap1", "diagonal")
    """Gradient rules: bptt, tbptt (BPTT truncated at --window), rtrl, uoro, snap1, snap2, diagonal."""
    lags: tuple[int, ...] = (4, 8, 16, 32)
    """L, steps between a cue and its recall (below --seq-len)."""
    window: int = 8
    """k: steps per window (truncation and online updates); a divisor of --seq-len."""
    seq_len: int = 64
    """T, steps per training sequence (a stream of T/k windows)."""
    hidden_size: int = 8
    steps: int = 600
    eval_every: int = 100
    batch_size: int = 32
    learning_rate: float = 3e-3


def run_config(cfg: Config, cell: str, rule: str, task) -> TrainConfig:
    """The run of ``cell`` trained by ``rule`` on ``task``."""
    base = _common.train_config(cfg, task, cell, cfg.layer_sizes, cfg.optax(cfg.learning_rate),
                                cell_options=_common.cell_options(cfg, cell, task))
    if rule == credit.Rule.BPTT:
        return base
    rule = credit.Rule.BPTT if rule == TRUNCATED else credit.Rule(rule)
    return dataclasses.replace(base, gradient=Gradient(rule, truncation=cfg.window, stateful=True))


def configs(cfg: Config) -> dict[str, TrainConfig]:
    """Every cell × rule × lag the cell can use; a rule a cell cannot use is reported and skipped."""
    unknown = [rule for rule in cfg.rules if rule not in RULES]
    if unknown:
        raise ValueError(f"--rules {' '.join(unknown)}: expected names from {' '.join(RULES)}")
    long = [lag for lag in cfg.lags if lag >= cfg.seq_len]
    if long:
        raise ValueError(f"--lags {' '.join(map(str, long))}: each lag must be below --seq-len {cfg.seq_len}")
    made = {}
    for cell in cfg.cells:
        for rule in cfg.rules:
            for lag in cfg.lags:
                task = tasks.get("echo", seq_len=cfg.seq_len, delay=lag)
                try:
                    made[f"{cell}_{rule}_lag{lag}"] = run_config(cfg, cell, rule, task)
                except ValueError as error:
                    if rule in (TRUNCATED, credit.Rule.BPTT) or "cannot use it" not in str(error):
                        raise
                    print(f"skipping {rule} for {cell}: {error}", flush=True)
                    break
    return made


def main(cfg: Config) -> results.Results:
    cfg = _common.start(cfg)
    res = _common.run_all("credit_assignment", configs(cfg), cfg, diagnose=("credit_alignment",),
                          diagnose_at=[0, cfg.steps])
    return finish(res, cfg.run_dir)


def _by_run(res: results.Results):
    """Each run's cell, rule and lag, from its name."""
    import pandas as pd

    rows = [{"run": run, **_RUN.match(run).groupdict()} for run in res.runs.run]
    frame = pd.DataFrame(rows)
    return frame.assign(lag=frame.lag.astype(int))


def _spread(frame, value: str):
    grouped = frame.groupby(["run", "cell", "rule", "lag"], sort=False)[value]
    return grouped.agg(["mean", "min", "max"]).reset_index()


def finish(res: results.Results, run_dir: str) -> results.Results:
    """Figures and the summary table from the loaded results (also used by experiments.figures)."""
    window = rundir.read_experiment(run_dir)["options"]["window"]
    runs = _by_run(res)
    longest = int(runs.lag.max())
    final = res.final("accuracy").merge(runs, on="run")
    curves = res.eval[res.eval.metric == "accuracy"].merge(runs, on="run")
    accuracy = _spread(final, "value")
    figures = {
        "accuracy_vs_lag": lambda: plots.by_lag(accuracy, ylabel="final held-out accuracy", window=window,
                                                baseline=0.5, title="echo: accuracy against lag"),
        "learning_curves": lambda: plots.curves_by_rule(
            curves[curves.lag == longest], ylabel="held-out accuracy", baseline=0.5, title=f"echo at lag {longest}: held-out accuracy"),
    }
    if len(res.credit):
        at_init = _spread(res.credit[res.credit.step == 0].merge(runs, on="run"), "cosine")
        figures["alignment_vs_lag"] = lambda: plots.by_lag(
            at_init, ylabel="cosine with BPTT's gradient", window=window,
            title="at initialisation: each rule's gradient against BPTT's")
    written = _common.write_figures(figures, run_dir)
    table = accuracy.rename(columns={"mean": "accuracy", "min": "acc_min", "max": "acc_max"})
    if len(res.credit):
        cosines = res.credit.merge(runs, on="run").groupby(["run", "step"]).cosine.mean().unstack("step")
        table = table.assign(cosine_init=table.run.map(cosines.iloc[:, 0]), cosine_final=table.run.map(cosines.iloc[:, -1]))
    _common.report(table.drop(columns="run"), written, run_dir)
    return res


if __name__ == "__main__":
    _common.cli(main, Config)

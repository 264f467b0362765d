"""The atlas: every cell on every memory task at every length, on one budget, side by side.

For each cell × task × T, with the seeds in one program: the held-out loss after training
relative to the task's memoryless baseline, the gradient's decay ‖∂L/∂h_t‖ across the
sequence (decades per 100 steps) and its horizon, and the largest Lyapunov exponent, at
initialisation and after training; then, per cell and T, the cost of a training step and of
its compile, timed on their own. Each cell trains at its authors' setup (optimiser,
learning rate, clipping, initialisation and options: :data:`SETUPS`, with the source of
each), every cell on the same batch and number of steps, so the budget in examples is one.

    python -m experiments.atlas                                   # the whole atlas (~2 h on 2 cores)
    python -m experiments.atlas --cells lstm lru --lengths 50 100 # a slice; rerun to resume
    python -m experiments.atlas --no-train                        # only time the steps (run alone)
    python -m experiments.atlas --quick                           # about a minute

The figures and the table draw from every run in ``--run-dir`` that has finished, so slices
add up. Your own cell joins from Python, at the atlas's own default setup, once registered
(``rnn_jax.cells.register("mine", factory)``, or a Flax cell through ``cells.from_flax``):
``atlas.main(atlas.Config(cells=(*atlas.Config.cells, "mine")))``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from experiments import _cell_options, _common
from experiments.reproduce import ARJOVSKY_UNCLIPPED
from rnn_jax import cells, tasks
from rnn_jax.analysis import plots
from rnn_jax.io import results, rundir

TASKS = {
    "adding": lambda T: tasks.get("adding", seq_len=T),
    "copy": lambda T: tasks.get("copy", delay=T),
    "first_input": lambda T: tasks.get("first_input", seq_len=T),
}
"""The memory tasks, each made at length ``T``: the adding problem (two marked numbers in
``T``), copy memory (ten symbols recalled ``T`` steps later) and the first input's sign read
at the last of ``T`` steps (pure delay under noise)."""

SOLVED = 0.1
"""A run solves its task when its held-out loss is at most this fraction of the memoryless
baseline's, in at least 3 of 4 seeds (:func:`solved`)."""

HORIZON_DECADES = 3.0
"""The gradient horizon: how many steps back from the last one ‖∂L/∂h_t‖ stays within this
many decades of its value there. Measured on the tasks scored at the last step only (adding,
first_input): where every step is scored (copy memory), ‖∂L/∂h_t‖ holds each step's own
term, so it tells nothing of how far the recall's gradient reaches."""

_ARJOVSKY_OPTIMISER = {k: v for k, v in ARJOVSKY_UNCLIPPED.items() if k not in ("batch_size", "train_size")}
_ARJOVSKY = {**_ARJOVSKY_OPTIMISER, "clipping": "clip", "clip": 1.0}


@dataclasses.dataclass(frozen=True)
class Setup:
    """A cell's training setup: :class:`~experiments._common.Training` fields and their source."""

    fields: Mapping[str, Any]
    source: str


SETUPS: dict[str, Setup] = {
    "rnn": Setup(_ARJOVSKY, "Arjovsky et al. 2016's code (amarshah/complex_RNN): RMSProp 1e-3, element-wise clip at "
                            "1, Glorot-uniform weights (claim adding_arjovsky)"),
    "irnn": Setup(_ARJOVSKY, "as rnn, with identity W_hh (Arjovsky et al. 2016's IRNN; claim adding_arjovsky)"),
    "lstm": Setup(_ARJOVSKY, "as rnn, Glorot per gate, forget bias 1 (Arjovsky et al. 2016's LSTM; claim "
                             "adding_arjovsky)"),
    "urnn": Setup(_ARJOVSKY_OPTIMISER, "Arjovsky et al. 2016: RMSProp 1e-3, no clipping (claim copy_memory_urnn)"),
    "exprnn": Setup({"optimizer": "rmsprop", "learning_rate": 2e-4, "optimizer_args": {"decay": 0.99},
                     "lr_scales": {"a": 0.1}, "clipping": None},
                    "lezcano/expRNN's copying setup: RMSprop (α = 0.99) 2e-4, A at 2e-5, no clipping"),
    "scornn": Setup({"optimizer": "rmsprop", "learning_rate": 1e-3, "lr_scales": {"a": 0.1}, "clipping": None},
                    "Helfrich et al. 2018's copying setup: RMSProp 1e-3, A at 1e-4, no clipping"),
    "indrnn": Setup({"optimizer": "adam", "learning_rate": 2e-4, "clipping": None, "head_init": "glorot",
                     "cell_options": _cell_options.of(indrnn={"recurrent_init": "uniform", "grad_clip": 10.0})},
                    "Li et al. 2018's adding script: Adam 2e-4, u ~ U[0, 2^(1/T)] (their first layer), the "
                    "pre-activation's gradient clipped at 10, a Glorot head (claim indrnn_adding)"),
    "cornn": Setup({"optimizer": "adam", "learning_rate": 2e-2, "clipping": None},
                   "tk-rusch/coRNN adding_task.py: Adam 2e-2, dt 0.06, γ 66, ε 15 (the cell's defaults), no "
                   "clipping"),
    "lem": Setup({"optimizer": "adam", "learning_rate": 2.6e-3, "clipping": None,
                  "cell_options": _cell_options.of(lem={"dt": 0.0242})},
                 "tk-rusch/LEM adding_task.py: Adam 2.6e-3, Δt 0.0242, no clipping (claim lem_adding)"),
}
"""Each cell's setup, from its authors' code for a memory task. A cell not named here (gru,
lru, mingru, minlstm, antisymmetric, and your own) trains at the atlas's own default:
Adam 1e-3 with the global norm clipped at 1 (:class:`Config`'s optimiser fields)."""


@dataclasses.dataclass(frozen=True)
class Config(_common.Comparison):
    """Every cell on every memory task at every length, on one budget: loss against the
    baseline, the gradient's horizon, the largest Lyapunov exponent and the cost per step."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Comparison.QUICK, "cells": ("rnn", "lstm"), "lengths": (8, 16),
                                          "seeds": 2, "steps": 20, "eval_every": 10, "cost_steps": 3}

    seeds: int = 4
    run_dir: str = "runs/atlas"
    cells: tuple[str, ...] = tuple(cells.available())
    """Cells to map (registered names; your own once registered)."""
    chrono_cells: tuple[str, ...] = ()
    tasks: tuple[str, ...] = tuple(TASKS)
    """Memory tasks: adding, copy, first_input."""
    lengths: tuple[int, ...] = (50, 100, 200, 500, 1000)
    """T: the adding problem's and the first input's sequence length, copy memory's delay."""
    hidden_size: int = 32
    steps: int = 500
    eval_every: int = 100
    learning_rate: float = 1e-3
    """The learning rate of cells without an authors' setup (:data:`SETUPS`)."""
    train: bool = True
    """Train the runs not yet finished in --run-dir (--no-train: only time the steps)."""
    cost_steps: int = 20
    """Training steps timed per cell and T, after one warm-up step (0: time nothing). Time them
    with the machine otherwise idle: --no-train does only that."""


def setup_of(cfg: Config, cell: str) -> Config:
    """``cfg`` with ``cell``'s authors' setup (:data:`SETUPS`) over its optimiser fields."""
    setup = SETUPS.get(cell)
    return cfg if setup is None else dataclasses.replace(cfg, **setup.fields)


def run_name(task: str, T: int, cell: str) -> str:
    return f"{task}.T{T}.{cell}"


def parse_name(name: str) -> tuple[str, int, str]:
    """``(task, T, cell)`` of a run named by :func:`run_name`."""
    task, length, cell = name.split(".", 2)
    return task, int(length[1:]), cell


def main(cfg: Config) -> results.Results | None:
    cfg = _common.start(cfg)
    unknown = sorted(set(cfg.tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"--tasks {' '.join(unknown)}: expected names among {', '.join(TASKS)}")
    if min(cfg.lengths) < 2:
        raise ValueError(f"--lengths {cfg.lengths}: expected lengths of at least 2")
    if cfg.cost_steps < 0:
        raise ValueError(f"--cost-steps {cfg.cost_steps}: expected 0 or more")
    setups = {cell: setup_of(cfg, cell) for cell in cfg.cells}
    configs = {
        run_name(task, T, cell): _common.train_config(setups[cell], TASKS[task](T), cell, cfg.hidden_size,
                                                      setups[cell].optax(setups[cell].learning_rate))
        for task in cfg.tasks for T in cfg.lengths for cell in cfg.cells
    }
    recorded = _recorded(cfg.run_dir)
    if cfg.train:
        _common.run_all("atlas", configs, cfg, diagnose_at=[0, cfg.steps])
    written = [name for name in configs if _has_status(os.path.join(cfg.run_dir, name))]
    if recorded or written:  # every slice's runs, so that the figures draw them all
        rundir.write_experiment(cfg.run_dir, "atlas", sorted(set(recorded) | set(written)), dataclasses.asdict(cfg))
    if cfg.cost_steps:
        measure_cost(cfg, {name: c for name, c in configs.items() if parse_name(name)[0] == cfg.tasks[0]})
    drawn = _recorded(cfg.run_dir)
    if not drawn:
        return None
    return finish(results.load([os.path.join(cfg.run_dir, name) for name in drawn]), cfg.run_dir)


def _has_status(path: str) -> bool:
    """Whether a run has written its first chunk (a run still compiling, or killed before, has not)."""
    return os.path.exists(os.path.join(path, rundir.STATUS))


def _recorded(run_dir: str) -> list[str]:
    """The runs of ``run_dir`` (every slice's) that have written a chunk."""
    try:
        info = rundir.read_experiment(run_dir)
    except FileNotFoundError:
        return []
    return [name for name, path in zip(info["runs"], info["run_dirs"]) if _has_status(path)]


COST = "cost.json"
"""The experiment directory's timings: ``{"CELL": {"T": {"compile_s", "step_ms"}}}``."""


def measure_cost(cfg: Config, configs: Mapping[str, Any]) -> dict[str, Any]:
    """Times one member's training step per cell and T (the first task's runs): its trace,
    lower and XLA compile with JAX's persistent cache off, then the median of
    ``cfg.cost_steps`` steps. Adds them to ``run_dir/cost.json`` and returns the whole file."""
    import jax

    from rnn_jax.training.trainer import Trainer

    found = read_cost(cfg.run_dir)
    cache = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        for name, train_cfg in configs.items():
            _, T, cell = parse_name(name)
            trainer = Trainer(train_cfg)
            state = trainer.init(jax.random.key(0))
            batch = trainer.task.sample(jax.random.key(1), train_cfg.batch_size)
            start = time.perf_counter()
            step = jax.jit(trainer.train_step, donate_argnums=0).lower(state, batch).compile()
            compile_s = time.perf_counter() - start
            state = jax.block_until_ready(step(state, batch)[0])
            times = []
            for _ in range(cfg.cost_steps):
                start = time.perf_counter()
                state = jax.block_until_ready(step(state, batch)[0])
                times.append(time.perf_counter() - start)
            found.setdefault(cell, {})[str(T)] = {"compile_s": round(compile_s, 3),
                                                 "step_ms": round(1e3 * float(np.median(times)), 3)}
            print(f"cost {cell} T={T}: compile {compile_s:.2f} s, step {found[cell][str(T)]['step_ms']:.2f} ms", flush=True)
    finally:
        jax.config.update("jax_enable_compilation_cache", cache)
    if rundir.primary_process():
        os.makedirs(cfg.run_dir, exist_ok=True)
        rundir.save_json(os.path.join(cfg.run_dir, COST), found)
    return found


def read_cost(run_dir: str) -> dict[str, Any]:
    """``run_dir/cost.json``, or ``{}`` when nothing was timed there."""
    path = os.path.join(run_dir, COST)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _log_norms(res: results.Results, step_of: str):
    """``{run: [members, t]}`` log10 ‖∂L/∂h_t‖ of the first layer at the first (``"min"``) or
    last (``"max"``) diagnostics step, floored at :data:`FLOOR`."""
    frame = res.grad_norms[res.grad_norms.layer == 0]
    out = {}
    for run, part in frame.groupby("run"):
        part = part[part.step == getattr(part.step, step_of)()]
        table = part.pivot_table(index="member", columns="t", values="value")
        out[run] = np.maximum(np.log10(np.maximum(table.to_numpy(), 1e-300)), FLOOR)
    return out


FLOOR = float(np.log10(np.finfo(np.float32).tiny))
"""log10 of float32's smallest normal number: a gradient norm below it has underflowed, and
the decay measured through it is a lower bound."""


def decay_per_100(log_norms: np.ndarray) -> np.ndarray:
    """Per member: decades ‖∂L/∂h_t‖ loses per 100 steps back, from the last step to the
    first (negative: it grows backwards)."""
    steps = log_norms.shape[-1] - 1
    return 100.0 * (log_norms[:, -1] - log_norms[:, 0]) / steps


def horizon(log_norms: np.ndarray) -> np.ndarray:
    """Per member: how many steps back from the last ‖∂L/∂h_t‖ stays within
    :data:`HORIZON_DECADES` of its value at the last step (the whole length if it never falls
    that far)."""
    below = log_norms < log_norms[:, -1:] - HORIZON_DECADES
    T = log_norms.shape[-1]
    back = below[:, ::-1]  # back[:, k]: k steps before the last
    return np.where(back.any(axis=1), np.argmax(back, axis=1), T)


def solved(ratios: np.ndarray) -> bool:
    """At least 3 of 4 seeds (the same share of any number) at or below :data:`SOLVED`."""
    finite = np.nan_to_num(np.asarray(ratios, dtype=float), nan=np.inf)
    return bool(np.sum(finite <= SOLVED) >= math.ceil(0.75 * len(finite)))


def table(res: results.Results, cost: Mapping[str, Any] | None = None):
    """One row per finished run: cell, task, T, the loss / baseline over seeds (median, min,
    max), solved, the gradient's decay and horizon and the largest Lyapunov exponent at
    initialisation and after training (medians over seeds), and the cost of a step at that T."""
    import pandas as pd

    final = res.final("loss")
    init_norms, trained_norms = _log_norms(res, "min"), _log_norms(res, "max")
    lyap = res.lyapunov[res.lyapunov["index"] == 0] if len(res.lyapunov) else None
    rows = []
    for run in res.runs.itertuples():
        last = final[final.run == run.run]
        if last.empty or last.step.max() < run.steps:
            continue  # not finished yet
        task, T, cell = parse_name(run.run)
        ratios = (last.sort_values("member").value / run.baseline_loss).to_numpy()
        row = {"cell": cell, "task": task, "T": T, "loss_ratio": float(np.median(ratios)),
               "loss_ratio_min": float(ratios.min()), "loss_ratio_max": float(ratios.max()),
               "solved_seeds": int(np.sum(ratios <= SOLVED)), "seeds": len(ratios), "solved": solved(ratios)}
        for when, norms in (("init", init_norms), ("trained", trained_norms)):
            if run.run in norms and not TASKS[task](T).readout.per_step:
                row[f"decay_{when}"] = float(np.median(decay_per_100(norms[run.run])))
                row[f"horizon_{when}"] = float(np.median(horizon(norms[run.run])))
                row[f"underflow_{when}"] = bool(np.median(norms[run.run][:, 0]) <= FLOOR)
        if lyap is not None:
            part = lyap[lyap.run == run.run]
            for when, step in (("init", part.step.min()), ("trained", part.step.max())):
                row[f"lyapunov_{when}"] = float(part[part.step == step].value.median())
        timing = (cost or {}).get(cell, {}).get(str(T))
        if timing:
            row.update(step_ms=timing["step_ms"], compile_s=timing["compile_s"])
        rows.append(row)
    return pd.DataFrame(rows)


def longest_solved(frame):
    """Per cell and task: the longest T solved (0: none), the largest horizon after training
    at that task's longest T run, and the step's cost at the longest T timed."""
    import pandas as pd

    rows = []
    for (cell, task), part in frame.groupby(["cell", "task"], sort=False):
        longest = part[part["T"] == part["T"].max()].iloc[0]
        rows.append({"cell": cell, "task": task, "longest_T_solved": int(part[part.solved]["T"].max()) if part.solved.any() else 0,
                     "at_T": int(longest["T"]), "horizon_trained": longest.get("horizon_trained", np.nan),
                     "decay_init": longest.get("decay_init", np.nan), "step_ms": longest.get("step_ms", np.nan)})
    return pd.DataFrame(rows)


def markdown(frame) -> str:
    """The atlas as one markdown table, a row per cell (family order): the longest T solved on
    each task, and at the longest T of the first task the gradient's horizon and decay and the
    largest Lyapunov exponent (initialisation → trained), and the cost of a step."""
    task_names = list(dict.fromkeys(frame.task))
    first = frame[frame.task == task_names[0]]
    at = int(first["T"].max())
    fmt = lambda v, spec: "–" if v is None or not np.isfinite(v) else format(v, spec)  # noqa: E731
    head = (["cell", "family"] + [f"{t}: longest T solved" for t in task_names]
            + [f"horizon at T = {at} ({task_names[0]}, steps)", "decades / 100 steps (init)", "λ₁ (init → trained)",
               f"step at T = {at} (ms)", "compile (s)"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    longest = longest_solved(frame).set_index(["cell", "task"]).longest_T_solved
    for cell in _order(frame):
        solved_at = [str(longest.get((cell, task), 0) or "none") for task in task_names]
        row = first[(first.cell == cell) & (first["T"] == at)]
        get = lambda name: float(row[name].iloc[0]) if name in row and len(row) else None  # noqa: E731
        lines.append("| " + " | ".join([
            plots.label(cell), plots.family(cell)[0], *solved_at,
            f"{fmt(get('horizon_init'), '.0f')} → {fmt(get('horizon_trained'), '.0f')}",
            ("≥ " if get("underflow_init") == 1.0 else "") + fmt(get("decay_init"), ".2g"),
            f"{fmt(get('lyapunov_init'), '.3f')} → {fmt(get('lyapunov_trained'), '.3f')}",
            fmt(get("step_ms"), ".1f"), fmt(get("compile_s"), ".1f")]) + " |")
    return "\n".join(lines) + "\n"


def finish(res: results.Results, run_dir: str) -> results.Results:
    """The table and the figures from every finished run (also used by experiments.figures)."""
    frame = table(res, read_cost(run_dir))
    if frame.empty:
        print("no run has finished yet")
        return res
    figures = {"heat_map": lambda: heat_map(frame)}
    if "horizon_init" in frame and frame.horizon_init.notna().any():  # a task scored at the last step
        figures["horizon"] = lambda: horizon_figure(frame)
    if "step_ms" in frame and frame.step_ms.notna().any():
        figures["cost"] = lambda: cost_figure(frame)
    written = _common.write_figures(figures, run_dir)
    longest = longest_solved(frame)
    if rundir.primary_process():
        frame.to_csv(os.path.join(run_dir, "atlas.csv"), index=False)
        longest.to_csv(os.path.join(run_dir, "longest.csv"), index=False)
        with open(os.path.join(run_dir, "atlas.md"), "w") as f:
            f.write(markdown(frame))
    _common.report(longest, written, run_dir)
    return res


def _order(frame) -> list[str]:
    """The cells in family order (:data:`~rnn_jax.analysis.plots.CELL_FAMILIES`), yours last."""
    known = [c for members in plots.CELL_FAMILIES.values() for c in members]
    present = list(dict.fromkeys(frame.cell))
    return [c for c in known if c in present] + [c for c in present if c not in known]


def heat_map(frame):
    """Per task, cell × T coloured by the median loss / baseline (log scale); each square
    says the median and, below it, how many seeds solved it (≤ :data:`SOLVED`)."""
    from matplotlib.colors import LogNorm

    task_names = list(dict.fromkeys(frame.task))
    order = _order(frame)
    lengths = sorted(set(frame["T"]))
    fig, axes = plots._figure(len(task_names), 3.2 + 0.5 * len(lengths), 0.9 + 0.32 * len(order))
    norm = LogNorm(1e-3, 2.0)
    for ax, task in zip(axes, task_names):
        grid = np.full((len(order), len(lengths)), np.nan)
        part = frame[frame.task == task]
        for row in part.itertuples():
            i, j = order.index(row.cell), lengths.index(row.T)
            grid[i, j] = max(row.loss_ratio, 1e-3)
            ax.text(j, i, f"{row.loss_ratio:.2g}\n{row.solved_seeds}/{row.seeds}", ha="center", va="center",
                    fontsize=5.5, color="white" if row.loss_ratio < 0.05 else "black")
        image = ax.imshow(np.ma.masked_invalid(grid), norm=norm, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(lengths)), [str(T) for T in lengths])
        ax.set_yticks(range(len(order)), [plots.label(c) for c in order], fontsize=7)
        for tick, cell in zip(ax.get_yticklabels(), order):
            tick.set_color(plots.family(cell)[1])
        ax.set(title=task, xlabel="T")
    fig.colorbar(image, ax=axes, label=f"held-out loss / memoryless baseline (solved: ≤ {SOLVED:g} in 3/4 seeds)")
    return fig


def horizon_figure(frame):
    """Per task, the gradient horizon (steps back within :data:`HORIZON_DECADES` decades)
    against T per cell, at initialisation (dotted) and after training (solid); on the
    diagonal the gradient reaches the first step."""
    measured = frame.dropna(subset=["horizon_init"])
    task_names = list(dict.fromkeys(measured.task))
    fig, axes = plots._figure(len(task_names), 4.0, 3.4)
    for ax, task in zip(axes, task_names):
        part = measured[measured.task == task]
        for cell in _order(part):
            rows = part[part.cell == cell].sort_values("T")
            name, colour, marker = plots.family(cell)
            for when, style in (("init", ":"), ("trained", "-")):
                if f"horizon_{when}" in rows:
                    ax.plot(rows["T"], rows[f"horizon_{when}"], linestyle=style, marker=marker, markersize=3.5,
                            color=colour, label=plots.label(cell) if when == "trained" else None)
        lengths = sorted(set(part["T"]))
        ax.plot(lengths, lengths, color="0.6", linewidth=0.8, label="= T: reaches the first step")
        ax.set(xscale="log", yscale="log", title=task, xlabel="T",
               ylabel=f"gradient horizon (steps within {HORIZON_DECADES:g} decades)")
        ax.grid(alpha=0.3)
    axes[-1].plot([], [], color="0.3", linestyle=":", label="at initialisation")
    axes[-1].plot([], [], color="0.3", linestyle="-", label="after training")
    fig.legend(*axes[-1].get_legend_handles_labels(), loc="outside right center", frameon=False, fontsize=6)
    return fig


def cost_figure(frame):
    """Per cell at the longest T: the cost of a training step against the gradient horizon
    after training (the median over tasks), the colour its family's."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, axes = plots._figure(1, 7.0, 3.6)
    ax = axes[0]
    timed = frame.dropna(subset=["step_ms"])
    longest = timed[timed["T"] == timed["T"].max()]
    for cell in _order(longest):
        rows = longest[longest.cell == cell]
        name, colour, marker = plots.family(cell)
        y = rows.horizon_trained.median() if "horizon_trained" in rows else np.nan
        ax.scatter([rows.step_ms.median()], [y], color=colour, marker=marker, s=30, label=f"{plots.label(cell)} ({name})")
    ax.set(xscale="log", xlabel=f"training step at T = {timed['T'].max()} (ms, one seed, alone)",
           ylabel="gradient horizon after training\n(steps, median over tasks)")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right center", frameon=False, fontsize=6)
    return fig


if __name__ == "__main__":
    _common.cli(main, Config)

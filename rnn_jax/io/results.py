"""Reading run directories: arrays for one run, tidy pandas DataFrames for many.

    result = load_run("runs/vg/lstm")               # RunResult with numpy arrays
    frames = load(["runs/vg/rnn", "runs/vg/lstm"])  # Results of tidy DataFrames
    frames.eval.query("metric == 'loss'")

Tidy means one row per observation: ``run, member, seed, <hparams>, step, metric, value``
(metrics), ``run, member, seed, step, layer, t, value`` (gradient norms) and so on. The
directory format is :mod:`rnn_jax.io.rundir`'s.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from rnn_jax.io import configs, rundir
from rnn_jax.io.rundir import RunDir, run_dirs_under


@dataclasses.dataclass
class RunResult:
    """One run directory's arrays: what :func:`rnn_jax.runner.run` returns, and what
    :func:`load_run` reads later (then without ``state``).

    Attributes:
        run_dir: the run directory.
        members: one dict per member (``member``, ``seed``, hyperparameters).
        state: the final stacked :class:`~rnn_jax.training.state.TrainState` (leading axis = members),
            or ``None`` when read from disk.
        train: per-step training metrics, each ``[members, steps]``.
        eval: held-out metrics, each ``[members, len(eval_steps)]``.
        eval_steps: the steps of the evaluations.
        diagnostics: ``{step: {name: array}}`` recorded during the run.
        diverged: one dict per member that diverged (``member``, ``seed``, hparams, ``step``).
    """

    run_dir: str
    members: list[dict[str, Any]]
    state: Any
    train: dict[str, np.ndarray]
    eval: dict[str, np.ndarray]
    eval_steps: np.ndarray
    diagnostics: dict[int, dict[str, np.ndarray]]
    diverged: list[dict[str, Any]]


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run directory's ``config.json``."""
    return RunDir(run_dir).read_config()


def load_run(run_dir: str | os.PathLike) -> RunResult:
    """One run directory as a :class:`RunResult` (``state`` is ``None``).

    Only chunks up to the last step recorded in ``status.json`` are read, so files left by
    an interrupted chunk are never mixed in.
    """
    directory = RunDir(run_dir)
    config = directory.read_config()
    status = directory.read_status()
    parts = RunParts.read(directory, until=status["step"])
    return parts.result(directory.path, config["members"], None, status["diverged"])


@dataclasses.dataclass
class RunParts:
    """A run's metrics and diagnostics chunk by chunk, as written (or read back)."""

    train: list[dict[str, np.ndarray]] = dataclasses.field(default_factory=list)
    eval: list[tuple[int, dict[str, np.ndarray]]] = dataclasses.field(default_factory=list)
    diagnostics: dict[int, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, directory: RunDir, *, until: int) -> RunParts:
        """The parts ``directory`` holds up to step ``until``."""
        return cls([arrays for _, arrays in directory.read("train", until=until)],
                   directory.read("eval", until=until), dict(directory.read("step", until=until)))

    def result(self, run_dir: str, members: list[dict[str, Any]], state: Any,
               diverged: list[dict[str, Any]]) -> RunResult:
        """The parts gathered so far as one :class:`RunResult` (metrics concatenated over chunks)."""
        trains, evals = self.train, self.eval
        train = {k: np.concatenate([t[k] for t in trains], axis=1) for k in trains[0]} if trains else {}
        eval_ = {k: np.stack([e[k] for _, e in evals], axis=1) for k in evals[0][1]} if evals else {}
        return RunResult(run_dir=run_dir, members=members, state=state, train=train, eval=eval_,
                         eval_steps=np.asarray([s for s, _ in evals]), diagnostics=dict(self.diagnostics),
                         diverged=diverged)


@dataclasses.dataclass
class Results:
    """Tidy DataFrames over any number of runs.

    Attributes:
        runs: one row per run: ``run`` (directory name), ``path``, ``cell``, ``task``,
            ``seq_len``, ``hidden_size``, ``baseline_loss``, ``success_metric``, ``steps``.
        members: one row per run and member: ``run, member, seed``, hyperparameters and
            ``diverged_at`` (the step a member became non-finite, -1 if it never did).
        train: ``run, member, step, metric, value`` for every training step.
        eval: ``run, member, step, metric, value`` for every evaluation.
        grad_norms: ``run, member, step, layer, t, value`` (‖∂L/∂h_t‖).
        jacobian: ``run, member, step, t, value`` (‖∂h_T/∂h_t‖, spectral).
        lyapunov: ``run, member, step, index, value``: the first layer's largest Lyapunov
            exponents (index 0 the largest), at the diagnostics steps.
        spectra: ``run, member, step, layer, direction, gate, radius, sigma_max``.
        eigenvalues: ``run, member, step, layer, direction, gate, index, real, imag``: every
            eigenvalue of each gate block of the recurrent matrix (``W_hh``; ``expm(A - Aᵀ)``
            for exprnn, ``λ`` for lru; none for mingru/minlstm).
        credit: ``run, member, step, cosine, variance, norm_ratio``: the run's gradient rule
            against full BPTT at the diagnostics steps (runs that recorded ``credit_alignment``).
    """

    runs: Any
    members: Any
    train: Any
    eval: Any
    grad_norms: Any
    jacobian: Any
    spectra: Any
    eigenvalues: Any
    lyapunov: Any
    credit: Any

    def with_members(self, frame):
        """``frame`` joined with the member table (adds seed and hyperparameter columns)."""
        return frame.merge(self.members, on=["run", "member"], how="left")

    def final(self, metric: str | None = None):
        """The held-out metrics (only ``metric``, if given) at each run's last evaluation, with
        the members' seeds and hyperparameters."""
        last = self.eval[self.eval.step == self.eval.groupby("run").step.transform("max")]
        if metric is not None:
            last = last[last.metric == metric]
        return self.with_members(last)


def _long(run: str, metrics: dict[str, np.ndarray], steps: np.ndarray):
    import pandas as pd

    frames = []
    for name, values in metrics.items():
        members, count = values.shape
        frames.append(pd.DataFrame({
            "run": run,
            "member": np.repeat(np.arange(members), count),
            "step": np.tile(steps, members),
            "metric": name,
            "value": values.reshape(-1).astype(np.float64),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "member", "step", "metric", "value"])


def _indexed(run: str, step: int, axes: tuple[str, ...], **values: np.ndarray):
    """A tidy frame of arrays of one shape: a row per element, a column per axis index."""
    import pandas as pd

    shape = next(iter(values.values())).shape
    index = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    columns = {"run": run, axes[0]: index[0].ravel(), "step": step}
    columns.update({axis: i.ravel() for axis, i in zip(axes[1:], index[1:])})
    columns.update({k: v.ravel().astype(np.float64) for k, v in values.items()})
    return pd.DataFrame(columns)


def load(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Results:
    """Tidy DataFrames for one or many run directories.

    Args:
        paths: run directories, or directories containing run directories (searched one
            level down), e.g. an experiment's ``--run-dir``.
    """
    import pandas as pd

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    run_dirs = [d for path in paths for d in run_dirs_under(path)]
    if not run_dirs:
        raise FileNotFoundError(f"no run directories (with config.json) under {list(paths)}")
    runs, members, train, eval_, grads, jac, spectra, eigenvalues, lyapunov, credit = ([] for _ in range(10))
    names = [os.path.basename(os.path.normpath(p)) for p in run_dirs]
    if len(set(names)) != len(names):  # same leaf name in different experiments: use more of the path
        names = [os.path.relpath(p, os.path.commonpath(run_dirs)) for p in run_dirs]
    for name, path in zip(names, run_dirs):
        config, result = RunDir(path).read_config(), load_run(path)
        model = config["train_config"]["model"]
        runs.append({
            "run": name, "path": os.path.abspath(path), "cell": configs.cell_name(model), "task": config["task"]["name"],
            "seq_len": config["task"]["seq_len"], "hidden_size": str(model["hidden_size"]),
            "baseline_loss": config["task"]["baseline_loss"], "success_metric": config["task"]["success_metric"],
            "steps": config["train_config"]["steps"], "batch_size": config["train_config"]["batch_size"],
        })
        diverged = {d["member"]: d["step"] for d in result.diverged}
        table = pd.DataFrame(result.members).assign(run=name)
        members.append(table.assign(diverged_at=[diverged.get(m, -1) for m in table.member]))
        if result.train:
            steps = np.arange(1, next(iter(result.train.values())).shape[1] + 1)
            train.append(_long(name, result.train, steps))
        eval_.append(_long(name, result.eval, result.eval_steps))
        for step, d in result.diagnostics.items():
            # between the diagnostics steps only the spectra are recorded, and a run records
            # only the diagnostics it asked for (runner.run(..., diagnose=...))
            if rundir.GRAD_NORMS in d:
                grads.append(_indexed(name, step, ("member", "layer", "t"), value=d[rundir.GRAD_NORMS]))
            if rundir.JACOBIAN_SPECTRAL in d:
                jac.append(_indexed(name, step, ("member", "t"), value=d[rundir.JACOBIAN_SPECTRAL]))
            if rundir.LYAPUNOV in d:  # runs recorded before the exponents were have none
                lyapunov.append(_indexed(name, step, ("member", "index"), value=d[rundir.LYAPUNOV]))
            if rundir.CREDIT_ALIGNMENT in d:
                found = d[rundir.CREDIT_ALIGNMENT]
                credit.append(_indexed(name, step, ("member",), cosine=found[:, 0], variance=found[:, 1],
                                       norm_ratio=found[:, 2]))
            if "radius" in d:  # cells without a recurrent matrix (mingru, minlstm) have no spectra
                spectra.append(_indexed(name, step, ("member", "layer", "direction", "gate"),
                                        radius=d[rundir.RADIUS], sigma_max=d[rundir.SINGULAR_VALUES][..., 0]))
            if rundir.EIGENVALUES in d:
                eigen = _indexed(name, step, ("member", "layer", "direction", "gate", "index"),
                                 real=d[rundir.EIGENVALUES].real, imag=d[rundir.EIGENVALUES].imag)
                eigenvalues.append(eigen.dropna(subset=["real"]))
    concat = lambda parts: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()  # noqa: E731
    return Results(pd.DataFrame(runs), concat(members), concat(train), concat(eval_), concat(grads), concat(jac),
                   concat(spectra), concat(eigenvalues), concat(lyapunov), concat(credit))


def summary(results: Results, metric: str | None = None):
    """Final held-out metrics per run (and per swept hyperparameter value): mean, std, min,
    max over seeds, and the trivial baseline.

    Args:
        results: from :func:`load`.
        metric: which metric (default: ``loss`` plus each run's success metric).

    Returns:
        One row per run × sweep point × metric; the swept hyperparameters are columns.
    """
    import pandas as pd

    final = results.final()
    hyper = [c for c in results.members.columns if c not in ("run", "member", "seed", "diverged_at")]
    swept = [h for h in hyper if h in final and final.groupby("run")[h].nunique().max() > 1]
    rows = []
    for run in results.runs.itertuples():
        wanted = [metric] if metric else ["loss", run.success_metric]
        part = final[final.run == run.run]
        baselines = {"loss": run.baseline_loss}  # the trivial predictor's value, where a metric has one
        for name in dict.fromkeys(wanted):
            chosen = part[part.metric == name]
            groups = chosen.groupby(swept, sort=True) if swept else [((), chosen)]
            for key, values in groups:
                key = key if isinstance(key, tuple) else (key,)
                v = values.value
                if v.empty:
                    continue
                rows.append({"run": run.run, "cell": run.cell, "task": run.task, "seq_len": run.seq_len,
                             **dict(zip(swept, key)), "metric": name, "mean": v.mean(),
                             "std": v.std(ddof=1) if len(v) > 1 else 0.0, "min": v.min(), "max": v.max(),
                             "seeds": len(v), "baseline_loss": baselines.get(name, np.nan)})
    return pd.DataFrame(rows)

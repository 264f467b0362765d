"""Reading run directories: arrays for one run, tidy pandas DataFrames for many.

    result = load_run("runs/vg/lstm")               # RunResult with numpy arrays
    frames = load(["runs/vg/rnn", "runs/vg/lstm"])  # Results of tidy DataFrames
    frames.eval.query("metric == 'loss'")

Tidy means one row per observation: ``run, member, seed, <hparams>, step, metric, value``
(metrics), ``run, member, seed, step, layer, t, value`` (gradient norms) and so on. The
directory format is described in :mod:`rnn_jax.runner`.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

_STEP = re.compile(r"_(\d+)\.npz$")


def _step_files(directory: str, prefix: str) -> list[tuple[int, str]]:
    files = glob.glob(os.path.join(directory, f"{prefix}_*.npz"))
    return sorted((int(_STEP.search(f).group(1)), f) for f in files)


def _read(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = os.path.join(os.fspath(run_dir), "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json)")
    with open(path) as f:
        return json.load(f)


def load_run(run_dir: str | os.PathLike):
    """One run directory as a :class:`~rnn_jax.runner.RunResult` (``state`` is ``None``).

    Only chunks up to the last step recorded in ``status.json`` are read, so files left by
    an interrupted chunk are never mixed in.
    """
    from rnn_jax.runner import RunResult

    run_dir = os.path.abspath(os.fspath(run_dir))
    config = read_config(run_dir)
    with open(os.path.join(run_dir, "status.json")) as f:
        status = json.load(f)
    last = status["step"]
    trains = [_read(f) for s, f in _step_files(os.path.join(run_dir, "metrics"), "train") if s <= last]
    evals = [(s, _read(f)) for s, f in _step_files(os.path.join(run_dir, "metrics"), "eval") if s <= last]
    train = {k: np.concatenate([t[k] for t in trains], axis=1) for k in trains[0]} if trains else {}
    eval_ = {k: np.stack([e[k] for _, e in evals], axis=1) for k in evals[0][1]} if evals else {}
    diagnostics = {s: _read(f) for s, f in _step_files(os.path.join(run_dir, "diagnostics"), "step") if s <= last}
    return RunResult(
        run_dir=run_dir,
        members=config["members"],
        state=None,
        train=train,
        eval=eval_,
        eval_steps=np.asarray([s for s, _ in evals]),
        diagnostics=diagnostics,
        diverged=status["diverged"],
    )


@dataclasses.dataclass
class Results:
    """Tidy DataFrames over any number of runs.

    Attributes:
        runs: one row per run: ``run`` (directory name), ``path``, ``cell``, ``task``,
            ``seq_len``, ``hidden_size``, ``baseline_loss``, ``success_metric``, ``steps``.
        members: one row per run and member: ``run, member, seed`` and hyperparameters.
        train: ``run, member, step, metric, value`` for every training step.
        eval: ``run, member, step, metric, value`` for every evaluation.
        grad_norms: ``run, member, step, layer, t, value`` (‖∂L/∂h_t‖).
        jacobian: ``run, member, step, t, value`` (‖∂h_T/∂h_t‖, spectral).
        spectra: ``run, member, step, layer, direction, gate, radius, sigma_max``.
    """

    runs: Any
    members: Any
    train: Any
    eval: Any
    grad_norms: Any
    jacobian: Any
    spectra: Any

    def with_members(self, frame):
        """``frame`` joined with the member table (adds seed and hyperparameter columns)."""
        return frame.merge(self.members, on=["run", "member"], how="left")


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


def load(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Results:
    """Tidy DataFrames for one or many run directories.

    Args:
        paths: run directories, or directories containing run directories (searched one
            level down), e.g. an experiment's ``--run-dir``.
    """
    import pandas as pd

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    run_dirs = []
    for path in paths:
        path = os.fspath(path)
        if os.path.exists(os.path.join(path, "config.json")):
            run_dirs.append(path)
        else:
            run_dirs += sorted(os.path.dirname(p) for p in glob.glob(os.path.join(path, "*", "config.json")))
    if not run_dirs:
        raise FileNotFoundError(f"no run directories (with config.json) under {list(paths)}")
    runs, members, train, eval_, grads, jac, spectra = [], [], [], [], [], [], []
    names = [os.path.basename(os.path.normpath(p)) for p in run_dirs]
    if len(set(names)) != len(names):  # same leaf name in different experiments: use more of the path
        names = [os.path.relpath(p, os.path.commonpath(run_dirs)) for p in run_dirs]
    for name, path in zip(names, run_dirs):
        config, result = read_config(path), load_run(path)
        model = config["train_config"]["model"]
        runs.append({
            "run": name, "path": os.path.abspath(path), "cell": model["cell"], "task": config["task"]["name"],
            "seq_len": config["task"]["seq_len"], "hidden_size": str(model["hidden_size"]),
            "baseline_loss": config["task"]["baseline_loss"], "success_metric": config["task"]["success_metric"],
            "steps": config["train_config"]["steps"],
        })
        members.append(pd.DataFrame(result.members).assign(run=name))
        if result.train:
            steps = np.arange(1, next(iter(result.train.values())).shape[1] + 1)
            train.append(_long(name, result.train, steps))
        eval_.append(_long(name, result.eval, result.eval_steps))
        for step, d in result.diagnostics.items():
            g = d["grad_norms"]  # [M, L, T]
            m_idx, l_idx, t_idx = np.meshgrid(*(np.arange(n) for n in g.shape), indexing="ij")
            grads.append(pd.DataFrame({"run": name, "member": m_idx.ravel(), "step": step, "layer": l_idx.ravel(),
                                       "t": t_idx.ravel(), "value": g.ravel().astype(np.float64)}))
            j = d["jacobian_spectral"]  # [M, T]
            m_idx, t_idx = np.meshgrid(*(np.arange(n) for n in j.shape), indexing="ij")
            jac.append(pd.DataFrame({"run": name, "member": m_idx.ravel(), "step": step, "t": t_idx.ravel(),
                                     "value": j.ravel().astype(np.float64)}))
            r, s = d["radius"], d["singular_values"]  # [M, L, D, G], [M, L, D, G, k]
            idx = np.meshgrid(*(np.arange(n) for n in r.shape), indexing="ij")
            spectra.append(pd.DataFrame({"run": name, "member": idx[0].ravel(), "step": step, "layer": idx[1].ravel(),
                                         "direction": idx[2].ravel(), "gate": idx[3].ravel(),
                                         "radius": r.ravel(), "sigma_max": s[..., 0].ravel()}))
    concat = lambda parts: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()  # noqa: E731
    return Results(pd.DataFrame(runs), concat(members), concat(train), concat(eval_), concat(grads), concat(jac), concat(spectra))


HPARAMS = ("learning_rate", "clip", "recurrent_scale")


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

    final = results.eval[results.eval.step == results.eval.groupby("run").step.transform("max")]
    final = results.with_members(final)
    swept = [h for h in HPARAMS if h in final and final.groupby("run")[h].nunique().max() > 1]
    rows = []
    for run in results.runs.itertuples():
        wanted = [metric] if metric else ["loss", run.success_metric]
        part = final[final.run == run.run]
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
                             "seeds": len(v), "baseline_loss": run.baseline_loss if name == "loss" else np.nan})
    return pd.DataFrame(rows)

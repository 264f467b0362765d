"""The run directory: its layout, and every read and write of it.

This is the one module that builds a path inside a run directory. The runner writes through
:class:`RunDir`, :mod:`rnn_jax.io.results` reads through it, and the experiments record their
runs with :func:`write_experiment` / :func:`read_experiment`. Layout::

    config.json                   what to rerun: TrainConfig, seeds, sweep, members, environment
    status.json                   last step, diverged members, finished (and the watchdog's line if it stopped)
    metrics/train_<step>.npz      per-step training metrics of the chunk ending at <step>, [M, K]
    metrics/eval_<step>.npz       held-out metrics at <step>, [M]
    diagnostics/step_<step>.npz   ‖∂L/∂h_t‖ [M, layers, t], ‖∂h_T/∂h_t‖ [M, t] (at diagnose_at), W_hh spectra (every evaluation)
    checkpoints/<step>/           orbax checkpoint of the stacked TrainState
    figures/                      written by the experiments

An experiment's directory holds one run directory per run and ``experiment.json`` (which
experiment made them, and their names), so figures can be redrawn without retraining.

Files are written to a temporary name and renamed, so a process killed at any moment leaves
only complete files. With several JAX processes only process 0 writes.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

CONFIG = "config.json"
STATUS = "status.json"
EXPERIMENT = "experiment.json"
_STEP_FILE = re.compile(r"_(\d+)\.npz$")
_KINDS = {"train": "metrics", "eval": "metrics", "step": "diagnostics"}  # file prefix -> subdirectory

# The arrays of a diagnostics file (``diagnostics/step_N.npz``), written by
# rnn_jax.analysis.diagnostics and read by rnn_jax.io.results:
GRAD_NORMS = "grad_norms"  # [M, layers, t]: ‖∂L/∂h_t‖ averaged over the diagnostics batch
JACOBIAN_SPECTRAL = "jacobian_spectral"  # [M, t]: ‖∂h_T/∂h_t‖₂ of the first layer
LYAPUNOV = "lyapunov"  # [M, k]: the first layer's k largest Lyapunov exponents, driven by held-out inputs
CREDIT_ALIGNMENT = "credit_alignment"  # [M, 3]: the run's gradient rule against BPTT: cosine, variance, norm ratio
RADIUS = "radius"  # [M, layers, directions, G]: spectral radius of each W_hh gate block
SINGULAR_VALUES = "singular_values"  # [M, layers, directions, G, k]: the largest singular values
EIGENVALUES = "eigenvalues"  # [M, layers, directions, G, n] complex


class WriteFailed(OSError):
    """A run-directory write failed (disk full, quota, permissions); the message names the
    file, the step and the checkpoint a rerun resumes from."""


def write_failed(path: str, step: int, saved: int, error: BaseException) -> WriteFailed:
    """The :class:`WriteFailed` for ``error`` raised while writing ``path`` at ``step``."""
    cause = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
    failed = WriteFailed(f"writing {path} failed at step {step} ({cause}); the last complete checkpoint is "
                         f"step {saved}: free space (or fix the directory) and rerun the same command to resume")
    failed.errno = error.errno if isinstance(error, OSError) else None
    return failed


def primary_process() -> bool:
    """Whether this is process 0, the one that writes files and reports (always true in a
    single-process run)."""
    import jax

    return jax.process_index() == 0


def environment() -> dict[str, Any]:
    """The machine and package versions, stored with every run (and every benchmark)."""
    import importlib.metadata

    import jax
    import optax

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "versions": {"rnn_jax": importlib.metadata.version("rnn_jax"), "jax": jax.__version__, "jaxlib": jax.lib.__version__,
                     "optax": optax.__version__, "numpy": np.__version__},
        "devices": [str(d) for d in jax.devices()],
        "processes": jax.process_count(),
        "backend": jax.default_backend(),
    }


def _atomic_write(path: str, write) -> None:
    """Writes via a temporary file in the same directory, then renames (never half a file)."""
    if not primary_process():
        return
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_json(path: str, data: Any) -> None:
    """Writes ``data`` as JSON to ``path`` atomically (a reader never sees half a file)."""
    _atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, sort_keys=True).encode()))


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _read_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


class RunDir:
    """One run directory. Subclass it (and pass the instance as ``run_dir``) to observe or
    fail writes, as the fault tests do; every write goes through :meth:`write_npz` or
    :meth:`write_json`.

    Args:
        path: the directory (made absolute).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.path.abspath(os.fspath(path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    # --- paths ------------------------------------------------------------------------

    def _file(self, prefix: str, step: int) -> str:
        return os.path.join(self.path, _KINDS[prefix], f"{prefix}_{step:08d}.npz")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.path, "checkpoints")

    def checkpoint(self, step: int) -> str:
        """Where orbax writes the checkpoint of ``step``."""
        return os.path.join(self.checkpoints, str(step))

    @property
    def figures(self) -> str:
        return figures_dir(self.path)

    def exists(self) -> bool:
        """Whether a run was started here (it has a ``config.json``)."""
        return os.path.exists(os.path.join(self.path, CONFIG))

    def has_checkpoints(self) -> bool:
        """Whether the run directory holds any checkpoint."""
        return os.path.isdir(self.checkpoints) and bool(os.listdir(self.checkpoints))

    # --- writing ----------------------------------------------------------------------

    def write_npz(self, path: str, arrays: Mapping[str, Any]) -> None:
        """Writes ``arrays`` to the ``.npz`` file ``path`` atomically."""
        _atomic_write(path, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))

    def write_json(self, path: str, data: Any) -> None:
        """Writes ``data`` as JSON to ``path`` atomically."""
        save_json(path, data)

    def make(self) -> None:
        """Creates the directory and its subdirectories; refuses one that is not writable."""
        try:
            for sub in sorted(set(_KINDS.values())):
                os.makedirs(os.path.join(self.path, sub), exist_ok=True)
            os.makedirs(self.figures, exist_ok=True)
            probe = os.path.join(self.path, f".write_test_{os.getpid()}")
            with open(probe, "w") as f:
                f.write("ok")
            os.unlink(probe)
        except OSError as error:
            raise ValueError(f"run_dir={self.path} is not writable: {error.strerror}") from None

    def start(self, identity: Mapping[str, Any], record: Mapping[str, Any], *, resume: bool) -> None:
        """Makes the directory ready for a run: refuses one that holds a different run (the
        differences listed), or one with checkpoints when ``resume`` is false; creates it;
        writes ``config.json`` (``identity``, what must match to resume, and ``record``) once.
        """
        from rnn_jax.io import configs

        identity = json.loads(json.dumps(dict(identity)))  # as it reads back from JSON
        if self.exists():
            stored = self.read_config()
            configs.check_resumable(stored, self.path)
            diff = configs.differences({k: stored.get(k) for k in identity}, identity)
            if diff:
                raise ValueError(
                    f"run_dir={self.path} holds a different run; differences (stored -> requested): "
                    + "; ".join(diff[:10]) + (" ..." if len(diff) > 10 else "")
                    + ". Use another run_dir or delete that directory."
                )
            if not resume and self.has_checkpoints():
                raise ValueError(f"run_dir={self.path} already has checkpoints and resume=False; pass resume=True to continue it")
        self.make()
        if not self.exists():
            self.write_json(os.path.join(self.path, CONFIG), {**identity, **record, "environment": environment()})

    def write_train(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Writes the training metrics of the chunk that ends at ``step``."""
        self.write_npz(self._file("train", step), metrics)

    def write_eval(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Writes the held-out metrics measured at ``step``."""
        self.write_npz(self._file("eval", step), metrics)

    def write_diagnostics(self, step: int, values: Mapping[str, Any]) -> None:
        """Writes the diagnostics recorded at ``step``."""
        self.write_npz(self._file("step", step), values)

    def write_status(self, step: int, steps: int, diverged: list[dict[str, Any]]) -> None:
        """Writes ``status.json``: the step reached, of how many, and the members that diverged."""
        self.write_json(os.path.join(self.path, STATUS),
                        {"step": int(step), "steps": int(steps), "finished": bool(step >= steps), "diverged": diverged})

    def write_hung(self, line: str) -> None:
        """Adds the watchdog's line to ``status.json`` (``hung``); a resumed run rewrites the file."""
        path = os.path.join(self.path, STATUS)
        status = _read_json(path) if os.path.exists(path) else {}
        self.write_json(path, {**status, "hung": line})

    def check_free_space(self, needed: int) -> None:
        """Refuses a run whose files would not fit on the disk."""
        free = shutil.disk_usage(self.path).free
        if free < needed:
            raise ValueError(
                f"run_dir={self.path} has {free / 2**20:.1f} MiB free but this run needs about {needed / 2**20:.1f} MiB "
                "(checkpoints, metrics, diagnostics); free space or choose another run_dir"
            )

    # --- reading ----------------------------------------------------------------------

    def read_config(self) -> dict[str, Any]:
        """The run's ``config.json`` in today's layout (:func:`~rnn_jax.io.configs.upgrade`);
        ``FileNotFoundError`` if this is not a run directory."""
        from rnn_jax.io import configs

        if not self.exists():
            raise FileNotFoundError(f"{self.path} is not a run directory (no {CONFIG})")
        return configs.upgrade(_read_json(os.path.join(self.path, CONFIG)))

    def read_status(self) -> dict[str, Any]:
        """The run's ``status.json``."""
        return _read_json(os.path.join(self.path, STATUS))

    def read(self, prefix: str, *, until: int | None = None) -> list[tuple[int, dict[str, np.ndarray]]]:
        """``(step, arrays)`` of every ``train`` / ``eval`` / ``step`` (diagnostics) file, by
        step, up to step ``until`` (files beyond it belong to an interrupted chunk)."""
        directory = os.path.join(self.path, _KINDS[prefix])
        found = []
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                match = _STEP_FILE.search(name)
                if name.startswith(prefix + "_") and match:
                    found.append((int(match.group(1)), os.path.join(directory, name)))
        return [(step, _read_npz(path)) for step, path in sorted(found) if until is None or step <= until]

    def files(self) -> dict[str, dict[str, np.ndarray]]:
        """Every metrics and diagnostics array, by ``subdirectory/file`` name (for comparing
        two run directories bit for bit)."""
        out = {}
        for prefix, sub in _KINDS.items():
            for step, arrays in self.read(prefix):
                out[os.path.relpath(self._file(prefix, step), self.path)] = arrays
        return out


def write_experiment(directory: str, experiment: str, runs: list[str], options: Mapping[str, Any]) -> list[str]:
    """Records in an experiment's directory which experiment made it and its runs' names;
    returns the runs' directories."""
    os.makedirs(directory, exist_ok=True)
    save_json(os.path.join(directory, EXPERIMENT), {"experiment": experiment, "runs": runs, "options": dict(options)})
    return [os.path.join(directory, name) for name in runs]


def figures_dir(directory: str) -> str:
    """Where an experiment (or a run) directory's figures go."""
    return os.path.join(directory, "figures")


def read_experiment(directory: str) -> dict[str, Any]:
    """What :func:`write_experiment` recorded, with ``run_dirs`` (the runs' paths) added."""
    path = os.path.join(directory, EXPERIMENT)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{directory} was not written by an experiment (no {EXPERIMENT})")
    info = _read_json(path)
    return {**info, "run_dirs": [os.path.join(directory, name) for name in info["runs"]]}


def run_dirs_under(path: str | os.PathLike) -> list[str]:
    """``path`` if it is a run directory, else the run directories one level below it."""
    path = os.fspath(path)
    if RunDir(path).exists():
        return [path]
    return sorted(os.path.dirname(p) for p in glob.glob(os.path.join(path, "*", CONFIG)))

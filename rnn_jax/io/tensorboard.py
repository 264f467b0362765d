"""TensorBoard event files for a run: one TensorBoard run per member, hyperparameters attached.

``runner.run(cfg, ..., tensorboard="tb")`` writes ``tb/<member>/events.out.tfevents.*`` for
each seed × sweep point, so TensorBoard's own UI compares seeds and swept values (its
HPARAMS tab lists them with their held-out metrics)::

    tensorboard --logdir tb

Tags: ``train/<metric>`` at every step, ``eval/<metric>`` at every evaluation, and at each
diagnostics step ``diagnostics/grad_norm_decades`` (how many decades ‖∂L/∂h_t‖ of the first
layer falls from t = T to t = 0; see :func:`rnn_jax.analysis.diagnostics.gradient_decades`).

The writer is tensorboardX (``pip install 'rnn_jax[tensorboard]'``), which needs no
TensorFlow; it queues events and a background thread writes them, so the loop does not wait
on the disk. A resumed run first reads back the steps each member's files already hold
(TensorBoard's own event reader) and writes only later ones: the steps recomputed between
the checkpoint and the interruption are equal to the ones written before (exact resume), so
nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

INSTALL = "pip install 'rnn_jax[tensorboard]'"


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"tensorboard=... needs {module.split('.')[0]}: {INSTALL}") from None


def member_name(row: Mapping[str, Any], swept: Sequence[str]) -> str:
    """The TensorBoard run of a member: its index, seed and swept values (``003_seed1_learning_rate0.01``)."""
    return f"{row['member']:03d}_seed{row['seed']}" + "".join(f"_{k}{row[k]:g}" for k in swept)


def written_steps(directory: str) -> dict[str, int]:
    """The last step of each tag in the event files of ``directory`` (empty when there are none)."""
    files = sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*")))
    if not files:
        return {}
    loader = _require("tensorboard.backend.event_processing.event_file_loader")
    last: dict[str, int] = {}
    for path in files:
        for event in loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                last[value.tag] = max(last.get(value.tag, -1), int(event.step))
    return last


class TensorBoardWriter:
    """Writes each member's metrics under ``root/<member>``.

    Args:
        root: the log directory.
        rows: the members' table rows (``member``, ``seed`` and every hyperparameter).
        swept: the names of the swept hyperparameters (they name the members' runs).
        hparams: the run's fixed settings (cell, hidden size, task...), attached to every
            member with its own row, beside the held-out metrics (TensorBoard's HPARAMS tab).
    """

    def __init__(self, root: str | os.PathLike, rows: Sequence[Mapping[str, Any]], swept: Sequence[str],
                 hparams: Mapping[str, Any]):
        tensorboardx = _require("tensorboardX")
        self.summary = _require("tensorboardX.summary")
        self.writers, self.written, self.hparams = [], [], []
        for row in rows:
            path = os.path.join(os.fspath(root), member_name(row, swept))
            self.written.append(written_steps(path))
            # a file of its own per opening: the default name (seconds, host) repeats within a second
            suffix = f".{os.getpid()}.{time.time_ns()}"
            self.writers.append(tensorboardx.SummaryWriter(logdir=path, flush_secs=30, filename_suffix=suffix))
            values = {**hparams, **{k: v for k, v in row.items() if k != "member"}}
            self.hparams.append({k: v if isinstance(v, (bool, str)) else float(v) for k, v in values.items()})

    def _attach_hparams(self, member: int, metrics: Sequence[str]) -> None:
        """A fresh member's hyperparameters, once, naming the held-out metrics to show beside them."""
        if self.written[member] or self.hparams[member] is None:
            return
        experiment, start, _ = self.summary.hparams(self.hparams[member], {f"eval/{m}": 0.0 for m in metrics})
        self.writers[member].file_writer.add_summary(experiment)
        self.writers[member].file_writer.add_summary(start)
        self.hparams[member] = None

    def _scalar(self, member: int, tag: str, value: float, step: int) -> None:
        if step > self.written[member].get(tag, -1):
            self.writers[member].add_scalar(tag, float(value), step)

    def write(self, step: int, train: Mapping[str, np.ndarray] | None, evaluation: Mapping[str, np.ndarray],
              decades: np.ndarray | None = None) -> None:
        """One chunk: ``train`` ``{metric: [M, n]}`` for steps ``step - n + 1 .. step`` (``None``
        at step 0), ``evaluation`` ``{metric: [M]}`` at ``step``, ``decades`` ``[M]`` or ``None``."""
        for m in range(len(self.writers)):
            self._attach_hparams(m, sorted(evaluation))
            for name, values in (train or {}).items():
                first = step - values.shape[1] + 1
                for i, value in enumerate(values[m]):
                    self._scalar(m, f"train/{name}", value, first + i)
            for name, values in evaluation.items():
                self._scalar(m, f"eval/{name}", values[m], step)
            if decades is not None:
                self._scalar(m, "diagnostics/grad_norm_decades", decades[m], step)

    def close(self) -> None:
        """Flushes and closes every run's event file."""
        for writer in self.writers:
            writer.close()

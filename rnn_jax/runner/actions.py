"""What happens between compiled chunks: small objects the loop calls in order.

After each chunk of ``eval_every`` training steps and its evaluation, the loop builds a
:class:`Chunk` and hands it to each action (the shape of jaxline's ``PeriodicAction``):
write the metrics, record diagnostics, write TensorBoard events (when asked), report new divergence, save a checkpoint, write
``status.json``, update the progress bar. At the start of a fresh run the same actions see
the step-0 evaluation (``train`` is ``None`` then).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np

from rnn_jax.analysis import diagnostics
from rnn_jax.io.results import RunParts
from rnn_jax.io import rundir
from rnn_jax.io.rundir import RunDir, WriteFailed, primary_process, write_failed
from rnn_jax.runner.placement import Mesh1D
from rnn_jax.training.state import TrainState
from rnn_jax.training.trainer import Trainer


@dataclasses.dataclass(frozen=True)
class Chunk:
    """What the loop knows after a chunk.

    Attributes:
        step: steps done.
        state: the stacked state on the devices (padded member axis).
        train: host training metrics of the chunk, each ``[M, eval_every]``; ``None`` at the start.
        eval: host held-out metrics at ``step``, each ``[M]``.
        diverged: every member diverged so far: its table row and ``step``.
    """

    step: int
    state: TrainState
    train: dict[str, np.ndarray] | None
    eval: dict[str, np.ndarray]
    diverged: list[dict[str, Any]]


class Action(Protocol):
    def __call__(self, chunk: Chunk) -> None: ...


def diverged_members(state: TrainState, rows: list[dict[str, Any]], mesh: Mesh1D) -> list[dict[str, Any]]:
    """Table rows (with ``step``) of the members whose ``diverged_at`` is set (one host read)."""
    at = mesh.host(state.diverged_at)
    return [{**rows[m], "step": int(at[m])} for m in np.flatnonzero(at >= 0)]


@dataclasses.dataclass
class WriteMetrics:
    """Writes the chunk's metrics, and keeps them in ``parts`` for ``run``'s return value."""

    directory: RunDir
    parts: RunParts

    def __call__(self, chunk: Chunk) -> None:
        if chunk.train is not None:
            self.directory.write_train(chunk.step, chunk.train)
            self.parts.train.append(chunk.train)
        self.directory.write_eval(chunk.step, chunk.eval)
        self.parts.eval.append((chunk.step, chunk.eval))


@dataclasses.dataclass
class RecordDiagnostics:
    """Gradient and Jacobian norms (a compiled program over members) at the chosen steps, and
    W_hh spectra (host numpy, cheap) at every evaluation; kept in ``parts`` too."""

    directory: RunDir
    parts: RunParts
    steps: tuple[int, ...]
    program: Callable[[Any], dict[str, jax.Array]]
    mesh: Mesh1D
    trainer: Trainer

    def __call__(self, chunk: Chunk) -> None:
        values = self.mesh.host(self.program(chunk.state.params)) if chunk.step in self.steps else {}
        values.update(diagnostics.model_spectra(self.trainer.model, self.mesh.host(chunk.state.params)))
        if values:  # cells without a recurrent matrix have no spectra to record between those steps
            self.directory.write_diagnostics(chunk.step, values)
            self.parts.diagnostics[chunk.step] = values


@dataclasses.dataclass
class WriteTensorBoard:
    """The chunk's metrics, and the decades ‖∂L/∂h_t‖ falls at diagnostics steps, as
    TensorBoard events (:mod:`rnn_jax.io.tensorboard`); runs after :class:`RecordDiagnostics`,
    whose values it reads from ``parts``."""

    writer: Any  # rnn_jax.io.tensorboard.TensorBoardWriter
    parts: RunParts

    def __call__(self, chunk: Chunk) -> None:
        norms = self.parts.diagnostics.get(chunk.step, {}).get(rundir.GRAD_NORMS)
        decades = None if norms is None else diagnostics.gradient_decades(np.asarray(norms)[:, 0])
        self.writer.write(chunk.step, chunk.train, chunk.eval, decades)

    def close(self) -> None:
        """Closes the TensorBoard writer."""
        self.writer.close()


@dataclasses.dataclass
class ReportDivergence:
    """A ``RuntimeWarning`` per newly diverged member: seed, hyperparameters, step, and with
    ``debug`` the operation that made the first NaN (a ``checkify`` replay of that step)."""

    trainer: Trainer
    reported: set[int]
    debug: bool

    def __call__(self, chunk: Chunk) -> None:
        for row in chunk.diverged:
            if row["member"] in self.reported:
                continue
            hp = ", ".join(f"{k}={v:g}" for k, v in row.items() if k not in ("member", "seed", "step"))
            origin = ""
            if self.debug and jax.process_count() > 1:
                origin = " (the debug replay runs in single-process runs only)"
            elif self.debug:
                member = jax.tree.map(lambda a: a[row["member"]], chunk.state)
                origin = f" (debug replay: {self.trainer.locate_nonfinite(member)})"
            warnings.warn(
                f"member {row['member']} (seed {row['seed']}, {hp}) became non-finite at step {row['step']}{origin}; "
                "it is frozen at its last finite state, the other members continue",
                RuntimeWarning,
                stacklevel=4,
            )
            self.reported.add(row["member"])


@dataclasses.dataclass
class SaveCheckpoint:
    """An orbax checkpoint every ``every`` chunks and at the last step; ``saved`` is the
    newest complete one (what a rerun resumes from)."""

    checkpointer: Any  # rnn_jax.io.checkpoint.Checkpointer, or NoCheckpoints
    directory: RunDir
    every: int
    last_step: int
    saved: int
    chunks: int = 0

    def __call__(self, chunk: Chunk) -> None:
        if chunk.train is None or not self.checkpointer.saves:
            return
        self.chunks += 1
        if self.chunks % self.every == 0 or chunk.step == self.last_step:
            self.save(chunk.step, chunk.state)

    def save(self, step: int, state: TrainState) -> None:
        """Saves a checkpoint of ``state`` at ``step``; a failed write names the step and the last complete checkpoint."""
        try:
            self.checkpointer.save(step, state)
        except Exception as error:  # orbax/tensorstore wrap OS errors in their own types
            raise write_failed(self.directory.checkpoint(step), step, self.saved, error) from error
        self.saved = step


@dataclasses.dataclass
class WriteStatus:
    directory: RunDir
    steps: int

    def __call__(self, chunk: Chunk) -> None:
        self.directory.write_status(chunk.step, self.steps, chunk.diverged)


class ShowProgress:
    """A tqdm bar over steps (process 0 only), with the chunk's last training loss; when
    disabled, nothing (tqdm is not even imported: in a notebook without ipywidgets its import
    warns)."""

    def __init__(self, enabled: bool, total: int, initial: int):
        self.bar = None
        if enabled and primary_process():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

    def __call__(self, chunk: Chunk) -> None:
        if chunk.train is None or self.bar is None:
            return
        self.bar.update(chunk.step - self.bar.n)
        losses = chunk.train["loss"][:, -1]
        finite = losses[np.isfinite(losses)]
        if finite.size:
            self.bar.set_postfix(loss=f"{finite.mean():.4g}", min=f"{finite.min():.4g}", max=f"{finite.max():.4g}")

    def close(self) -> None:
        """Closes the progress bar."""
        if self.bar is not None:
            self.bar.close()


__all__ = ["Action", "Chunk", "RecordDiagnostics", "ReportDivergence", "SaveCheckpoint", "ShowProgress",
           "WriteFailed", "WriteMetrics", "WriteStatus", "WriteTensorBoard", "diverged_members"]

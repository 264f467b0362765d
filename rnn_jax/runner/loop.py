"""``run``: many seeds × swept hyperparameters in one compiled program, chunk by chunk;
``fit``: ``run`` with one member, as a notebook wants it.

    result = run(cfg, seeds=8, sweep={"learning_rate": [1e-3, 1e-2]}, run_dir="runs/x")
    params, history = fit(model, task, cfg)

The loop checks its arguments, prepares the run directory, compiles the programs over
members (:mod:`~rnn_jax.runner.placement`), then repeats: the sampling of a chunk's training
batches and the training on them (``eval_every`` steps, in one call each unless the batches
would take more than ``programs.BATCHES_BYTES``), one compiled evaluation, and the actions of
:mod:`~rnn_jax.runner.actions`. Calling ``run`` again on an existing run directory resumes
from its last complete checkpoint; the results are bit-identical to an uninterrupted run
because every random draw is ``fold_in(key, step)`` and the whole state is checkpointed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from rnn_jax import _checks, optimizer
from rnn_jax.analysis.diagnostics import DEFAULT, check_recordable
from rnn_jax.io import configs
from rnn_jax.io.results import RunParts, RunResult, load_run
from rnn_jax.io.rundir import RunDir, WriteFailed, primary_process, write_failed
from rnn_jax.runner import actions as act
from rnn_jax.training import programs
from rnn_jax.runner.interrupt import GracefulStop
from rnn_jax.runner.members import Members, make_members
from rnn_jax.runner.placement import Mesh1D, MemberPrograms, Placement, make_mesh, resolve_placement
from rnn_jax.runtime import compile_cache, memory_maps
from rnn_jax.runtime.watchdog import Watch, Watchdog, stop_process
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import Task
from rnn_jax.training.config import TrainConfig
from rnn_jax.training.trainer import Trainer, make_train


@dataclasses.dataclass(frozen=True)
class Plan:
    """A run's arguments, checked, and what follows from them (nothing compiled yet)."""

    trainer: Trainer
    members: Members
    mesh: Mesh1D
    members_per_call: int | None
    diagnose_at: tuple[int, ...]
    diagnose: tuple[str, ...]
    diagnostics_batch: int
    jacobian_batch: int
    checkpoint_every: int

    @property
    def cfg(self) -> TrainConfig:
        return self.trainer.cfg

    @functools.cached_property
    def rows(self) -> list[dict[str, Any]]:
        return self.members.table()

    @functools.cached_property
    def config_dict(self) -> dict[str, Any]:
        """``configs.to_dict(cfg)``, what ``config.json`` stores of the config."""
        return configs.to_dict(self.cfg)

    def identity(self) -> dict[str, Any]:
        """What must match for a resume."""
        return {"train_config": self.config_dict, **self.members.identity(),
                "diagnose_at": list(self.diagnose_at), "diagnose": list(self.diagnose),
                "chunk_steps": self.cfg.eval_every}

    def record(self) -> dict[str, Any]:
        """What else ``config.json`` holds: the member table and the task's facts."""
        task = self.trainer.task
        return {"members": self.rows, "rebuildable": configs.is_rebuildable(self.config_dict),
                "task": {"name": task.name, "baseline_loss": task.baseline_loss, "seq_len": task.seq_len,
                         "success_metric": task.success_metric}}

    def bytes_needed(self) -> int:
        """Disk a checkpointed run needs (three checkpoints, metrics, diagnostics, margin)."""
        state = jax.eval_shape(self.trainer.init, jax.random.key(0))
        per_member = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(state)
                         if hasattr(leaf, "dtype") and not jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key))
        m, chunks = len(self.members), -(-self.cfg.steps // self.cfg.eval_every)
        metrics = chunks * m * self.cfg.eval_every * 4 * 8  # ~8 float32 metrics per step
        diagnostics_bytes = len(self.diagnose_at) * m * (self.trainer.model.num_layers + 1) * (self.trainer.task.seq_len or 1) * 4
        return 3 * per_member * m + metrics + diagnostics_bytes + (1 << 20)


def plan(cfg, seeds, sweep, *, diagnose_at, diagnose, diagnostics_batch, jacobian_batch, checkpoint_every,
         members_per_call, devices) -> Plan:
    """Checks every argument of :func:`run` (before anything is traced) and builds the :class:`Plan`."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    chunk = cfg.eval_every
    trainer = make_train(cfg)
    members = make_members(seeds, sweep, trainer.hparam_path)
    _checks.positive_int(checkpoint_every, "checkpoint_every")
    _checks.positive_int(diagnostics_batch, "diagnostics_batch")
    _checks.positive_int(jacobian_batch, "jacobian_batch")
    mesh = make_mesh(devices, len(members))
    per_call = resolve_placement(members_per_call, max(cfg.model.layer_sizes), mesh.devices)
    diagnose_at = sorted({0, min(chunk, cfg.steps), cfg.steps}) if diagnose_at is None else diagnose_at
    diagnose_at = tuple(sorted({_checks.nonneg_int(s, "diagnose_at[i]") for s in diagnose_at}))
    for s in diagnose_at:
        if s not in cfg.eval_steps:
            raise ValueError(f"diagnose_at step {s} must be an evaluation step (a multiple of eval_every={chunk}, or "
                             f"steps={cfg.steps}) and <= steps={cfg.steps}")
    recorded = check_recordable(diagnose)
    return Plan(trainer, members, mesh, per_call, diagnose_at if recorded else (), recorded, diagnostics_batch,
                jacobian_batch, checkpoint_every)


def run(
    cfg: TrainConfig,
    seeds: int | Sequence[int] = 8,
    sweep: Mapping[str, Any] | None = None,
    run_dir: str | os.PathLike | RunDir | None = None,
    *,
    resume: bool = True,
    diagnose_at: Sequence[int] | None = None,
    diagnose: Sequence[str] = DEFAULT,
    diagnostics_batch: int = 128,
    jacobian_batch: int = 8,
    checkpoint_every: int = 1,
    members_per_call: Placement | str | int = Placement.AUTO,
    progress: bool = True,
    devices: Sequence[jax.Device] | None = None,
    debug: bool = False,
    tensorboard: str | os.PathLike | None = None,
    watchdog: Watchdog | None = Watchdog(),
) -> RunResult:
    """Trains every seed × sweep point of ``cfg`` in one compiled program.

    Args:
        cfg: the training configuration: chunks of ``cfg.eval_every`` steps, each followed by
            an evaluation, and a shorter last one when ``cfg.steps`` is not a multiple of it.
        seeds: how many seeds (0..S-1) or which seeds.
        sweep: ``{name: values}``: a float argument written in ``cfg.optimizer`` (by name,
            ``"learning_rate"``, or by path where several nodes have it, ``"0.max_norm"``) or
            ``"recurrent_scale"``; the grid of all combinations is crossed with the seeds.
        run_dir: where results go (created; an existing one is resumed), or a
            :class:`~rnn_jax.io.rundir.RunDir`. ``None``: a temporary directory, removed before ``run`` returns (no checkpoints).
        resume: continue an existing run directory (``False`` refuses one that has checkpoints).
        diagnose_at: evaluation steps (multiples of ``eval_every``, or ``cfg.steps``) at which to
            record diagnostics;
            default: 0, the first evaluation and the last step.
        diagnose: what to record there (each is compiled only when asked for):
            ``"grad_norms"`` (‖∂L/∂h_t‖ per layer), ``"jacobian_spectral"`` (‖∂h_T/∂h_t‖₂)
            and ``"lyapunov"`` (the first layer's Lyapunov exponents), default: these three;
            ``"credit_alignment"``: the run's gradient rule (or truncation) against full
            BPTT (:func:`rnn_jax.credit.alignment`).
            The spectra of ``W_hh`` are recorded at every evaluation whatever this is.
        diagnostics_batch: held-out sequences used for ‖∂L/∂h_t‖.
        jacobian_batch: sequences used for ‖∂h_T/∂h_t‖ (costs ``h`` backward passes each).
        checkpoint_every: save a checkpoint every this many chunks (and always at the end).
        members_per_call: ``"auto"`` (default) picks by the rule measured in
            :func:`~rnn_jax.runner.choose_members_per_call`; ``"vmap"`` vmaps all members at
            once; ``k`` (one device only) compiles a call for ``k`` members and runs the groups
            one per CPU core at a time. Results agree to float32 rounding whichever is used,
            and do not depend on the number of cores.
        progress: show a tqdm progress bar.
        devices: devices for the member mesh (default: every device of every process; after
            ``jax.distributed.initialize`` the members are split over the processes, each
            computes its share, and process 0 writes the run directory).
        debug: when a member diverges, replay its step under ``checkify`` and report the
            operation (file and line) that produced the first NaN.
        tensorboard: also write TensorBoard event files here, one TensorBoard run per member
            with its hyperparameters (:mod:`rnn_jax.io.tensorboard`; needs
            ``pip install 'rnn_jax[tensorboard]'``). ``None`` (default): nothing is written
            and nothing is imported for it.
        watchdog: when a compiled call counts as stuck (:class:`~rnn_jax.runtime.watchdog.
            Watchdog`: by default more than 20x its longest run so far, at least 5 minutes,
            with the process idle); a stuck run prints one line naming the program, the
            members and the step, records it in ``status.json`` and exits the process with
            status 75, its run directory resumable. ``None``: no watchdog.

    Returns:
        A :class:`~rnn_jax.io.results.RunResult`.

    Programs are compiled once per machine: JAX's persistent compilation cache is turned on
    (:mod:`rnn_jax.runtime.compile_cache`; ``RNN_JAX_COMPILE_CACHE=off`` turns it off).

    Ctrl-C (SIGINT) finishes the running chunk, saves a checkpoint and raises
    ``KeyboardInterrupt`` with how to resume; a second Ctrl-C stops at once. A process
    killed outright resumes from its last complete checkpoint. A run directory that cannot
    hold the run (not writable, too little free space) is refused before training; a write
    that fails later (disk full) raises :class:`~rnn_jax.io.rundir.WriteFailed` naming the
    file, the step and the checkpoint to resume from.
    """
    if watchdog is not None and not isinstance(watchdog, Watchdog):
        raise TypeError(f"watchdog={watchdog!r} must be a runner.Watchdog or None")
    compile_cache.enable()  # on by default; see rnn_jax.runtime.compile_cache
    memory_maps.relieve()  # finished runs' programs hold memory mappings; XLA:CPU crashes at the cap
    p = plan(cfg, seeds, sweep, diagnose_at=diagnose_at, diagnose=diagnose, diagnostics_batch=diagnostics_batch,
             jacobian_batch=jacobian_batch, checkpoint_every=checkpoint_every, members_per_call=members_per_call,
             devices=devices)
    if tensorboard is not None and not isinstance(tensorboard, (str, os.PathLike)):
        raise TypeError(f"tensorboard={tensorboard!r} must be a directory path (str or os.PathLike) or None")
    with _run_directory(run_dir) as (directory, checkpointing):
        directory.start(p.identity(), p.record(), resume=resume)
        if checkpointing:
            directory.check_free_space(p.bytes_needed())
        position = _Position(p.rows, directory.path if checkpointing else None)
        with _watching(watchdog, position, directory) as watch, \
                MemberPrograms(p.mesh.padded, p.members_per_call, p.mesh.sharding, watch=watch) as over, \
                _checkpointer(directory, checkpointing) as checkpointer:
            built = _build(p, over)
            state, step, parts = _restore(p, built, directory, checkpointer, resume)
            position.step = step
            state, step = _loop(p, built, directory, checkpointer, state, step, parts, progress=progress, debug=debug,
                                tensorboard=tensorboard, position=position)
        diverged = act.diverged_members(state, p.rows, p.mesh)
        directory.write_status(step, cfg.steps, diverged)
        if jax.process_count() > 1:  # every process reads what process 0 wrote
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("rnn_jax.runner.run finished")
            return dataclasses.replace(load_run(directory.path), state=p.mesh.host(state))
        return parts.result(directory.path, p.rows, jax.tree.map(lambda a: a[: len(p.members)], state), diverged)


def fit(model: SequenceModel, task: Task | str, cfg: TrainConfig | None = None, *,
        seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Trains one model on one task: :func:`run` with one member, seen as a notebook wants it.

    The same compiled programs as every run with that config, so a re-fit with another
    learning rate (any float written in ``cfg.optimizer``), seed or number of steps
    compiles nothing. Nothing is written outside a temporary directory, no diagnostics are
    recorded, and no watchdog ends the process (a notebook's kernel).

    Args:
        model: the model to train.
        task: a task (``tasks.get("adding", seq_len=50)``) or a registered task name.
        cfg: steps, batch size, optimizer...; its ``model`` and ``task`` must be left at
            their defaults or equal ``model`` and ``task`` (a config made for another model
            is refused rather than silently replaced).
        seed: the run's seed.

    Returns:
        ``(params, history)``: the final parameters and a dict of numpy arrays with
        ``"train"`` (per-step metrics), ``"eval"`` (held-out metrics), ``"eval_steps"``,
        ``"baseline_loss"`` and ``"diverged_at"`` (the step it became non-finite, or -1).
    """
    cfg = TrainConfig() if cfg is None else cfg
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    for name, given in (("model", model), ("task", task)):
        default = TrainConfig.__dataclass_fields__[name].default
        if getattr(cfg, name) not in (default, given):
            raise ValueError(f"cfg.{name} differs from the {name} passed to fit, which trains the one passed: "
                             f"leave cfg.{name} at its default, or call fit(cfg.model, cfg.task, cfg)")
    cfg = dataclasses.replace(cfg, model=model, task=task, task_options=())
    result = run(cfg, seeds=[_checks.nonneg_int(seed, "seed")], diagnose=(), progress=False, watchdog=None)
    first = lambda tree: jax.tree.map(lambda a: np.asarray(a)[0], tree)  # noqa: E731  (on the host: compiles nothing)
    return jax.device_put(first(result.state.params)), {
        "train": first(result.train), "eval": first(result.eval), "eval_steps": result.eval_steps,
        "baseline_loss": cfg.task_fn.baseline_loss, "diverged_at": int(result.state.diverged_at[0]),
    }


class _Programs(NamedTuple):
    """A run's four compiled programs over members, and the held-out set (on every device)
    that evaluation and diagnostics share."""

    init: Any
    batches: Any
    chunk: Any
    evaluate: Any
    diagnose: Any
    held_out: Any
    block: int
    last: tuple[int, Any, Any, int] | None
    """The last, shorter chunk when ``eval_every`` does not divide ``steps``: its steps, and
    its batches and training programs (compiled for its shapes) and block."""

    def chunk_of(self, steps: int) -> tuple[Any, Any, int]:
        """The batches and training programs and the block for a chunk of ``steps`` steps."""
        return self.last[1:] if self.last and steps == self.last[0] else (self.batches, self.chunk, self.block)


def _build(p: Plan, over: MemberPrograms) -> _Programs:
    """The run's programs over members. Every program maps members to members (inputs and
    outputs sharded on the member axis; the held-out set replicated), so XLA needs no
    cross-device collective, which can deadlock host devices. Evaluation is its own program:
    inside the chunk program it would be compiled twice."""
    made = programs.programs(p.trainer, chunk_steps=p.cfg.eval_every, diagnostics_batch=p.diagnostics_batch,
                             jacobian_batch=p.jacobian_batch, members=p.mesh.padded // len(p.mesh.devices),
                             recorded=p.diagnose)
    held_out = p.mesh.replicate(jax.device_get(programs.held_out(p.trainer.task)))
    last = None
    if p.cfg.steps % p.cfg.eval_every:
        tail = p.cfg.steps % p.cfg.eval_every
        block = programs.block_steps(p.trainer, tail, p.mesh.padded // len(p.mesh.devices))
        last = (tail, over(programs.SampleBatches.of(p.trainer, block)), over(made[2]), block)
    return _Programs(*map(over, made), held_out, made[1].steps, last)


def _restore(p: Plan, built: _Programs, directory: RunDir, checkpointer, resume: bool):
    """The initial state, or the last checkpoint's with the parts written before it:
    ``(state, step, parts)``."""
    state = built.init(*p.mesh.place(p.members.stacked(p.trainer.default_hparams())))
    step = checkpointer.latest_step() if resume else None
    if step is None:
        return state, 0, RunParts()
    return checkpointer.restore(step, state), step, RunParts.read(directory, until=step)


def _loop(p: Plan, built: _Programs, directory: RunDir, checkpointer, state, step: int, parts: RunParts, *,
          progress: bool, debug: bool, tensorboard, position: _Position):
    """Chunk after chunk until ``cfg.steps`` or Ctrl-C: the final state and step."""
    mesh, rows = p.mesh, p.rows
    save = act.SaveCheckpoint(checkpointer, directory, p.checkpoint_every, p.cfg.steps, saved=step)
    bar = act.ShowProgress(progress, p.cfg.steps, step)
    diagnose = lambda params: built.diagnose(params, built.held_out)  # noqa: E731
    records = [act.WriteMetrics(directory, parts),
               act.RecordDiagnostics(directory, parts, p.diagnose_at, diagnose, mesh, p.trainer),
               *_tensorboard(p, parts, tensorboard)]
    diverged = {r["member"] for r in act.diverged_members(state, rows, mesh)}
    actions = [*records, act.ReportDivergence(p.trainer, diverged, debug), save,
               act.WriteStatus(directory, p.cfg.steps), bar]
    stop = GracefulStop()
    try:
        with _writes_explained(directory, lambda: step, lambda: save.saved), stop:
            if step == 0:  # the step-0 evaluation and diagnostics
                chunk = act.Chunk(0, state, None, mesh.host(built.evaluate(state.params, built.held_out)), [])
                for action in records:
                    action(chunk)
            while step < p.cfg.steps and not stop.requested:
                size = min(p.cfg.eval_every, p.cfg.steps - step)
                batches, train, block = built.chunk_of(size)
                state, blocks = programs.train_chunk(batches, train, state, size, block)
                eval_metrics = built.evaluate(state.params, built.held_out)
                step += size
                position.step = step
                train_metrics = jax.tree.map(lambda *b: np.concatenate(b, axis=1), *map(mesh.host, blocks))
                chunk = act.Chunk(step, state, train_metrics, mesh.host(eval_metrics),
                                  act.diverged_members(state, rows, mesh))
                for action in actions:
                    action(chunk)
        if stop.requested:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        _save_and_explain(save, step, state, directory)
        raise
    finally:
        bar.close()
        for action in records[2:]:
            action.close()
    return state, step


def _tensorboard(p: Plan, parts: RunParts, root) -> list[act.WriteTensorBoard]:
    """The TensorBoard action (process 0 only), or none when ``root`` is ``None``."""
    if root is None or not primary_process():
        return []
    from rnn_jax.io.tensorboard import TensorBoardWriter

    cfg, task = p.cfg, p.trainer.task
    fixed = {"cell": cfg.model.cell_name, "hidden_size": str(cfg.model.hidden_size), "task": task.name,
             "seq_len": task.seq_len or 0, "batch_size": cfg.batch_size, "optimizer": optimizer.describe(cfg.optimizer)}
    swept = [name for name, _ in p.members.sweep]
    writer = TensorBoardWriter(root, p.rows, swept, fixed)
    return [act.WriteTensorBoard(writer, parts)]


def _save_and_explain(save: act.SaveCheckpoint, step: int, state, directory: RunDir) -> None:
    """After Ctrl-C: a checkpoint of the last finished chunk, and how to resume."""
    if save.checkpointer.saves and step > save.saved:
        save.save(step, state)
    if not save.checkpointer.saves:
        where = "no run_dir was given, so nothing was saved"
    elif save.saved:
        where = f"step {save.saved} is saved; rerun the same command (run_dir={directory.path}) to resume"
    else:
        where = f"nothing was saved yet; rerunning the same command (run_dir={directory.path}) starts again"
    print(f"\ninterrupted at step {step}; {where}", file=sys.stderr)


@dataclasses.dataclass
class _Position:
    """Where the run is, for the watchdog's line: the step the running call started from."""

    rows: list[dict[str, Any]]
    run_dir: str | None
    step: int = 0

    def __call__(self) -> str:
        seeds = sorted({row["seed"] for row in self.rows})
        shown = ", ".join(map(str, seeds[:8])) + (", ..." if len(seeds) > 8 else "")
        resume = (f"rerun the same command (run_dir={self.run_dir}) to resume from its last checkpoint"
                  if self.run_dir else "no run_dir was given, so nothing was saved")
        return f"at step {self.step}, members 0-{len(self.rows) - 1} (seeds {shown}); {resume}"


@contextlib.contextmanager
def _watching(settings: Watchdog | None, position: _Position, directory: RunDir):
    """The run's :class:`Watch` (``None`` without a watchdog); a stuck call's line also goes
    into ``status.json`` (process 0) before the process stops."""
    if settings is None:
        yield None
        return

    def on_hang(line: str) -> None:
        if primary_process():
            with contextlib.suppress(OSError, ValueError):
                directory.write_hung(line)
        stop_process(line)

    watch = Watch(settings, position, on_hang)
    try:
        yield watch
    finally:
        watch.close()


class NoCheckpoints:
    """The checkpointer of a run without a run directory: it holds and saves nothing."""

    saves = False

    def latest_step(self) -> None:
        """No checkpoint: nothing to resume from."""
        return None

    def save(self, step: int, state) -> None:
        """Saves nothing."""
        del step, state


@contextlib.contextmanager
def _run_directory(run_dir):
    """``(RunDir, checkpointing)``; ``run_dir=None``: a temporary directory, removed after."""
    if run_dir is not None:
        yield (run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)), True
        return
    with tempfile.TemporaryDirectory(prefix="rnn_jax_run_") as path:
        yield RunDir(path), False


@contextlib.contextmanager
def _checkpointer(directory: RunDir, enabled: bool):
    if not enabled:
        yield NoCheckpoints()
        return
    from rnn_jax.io.checkpoint import Checkpointer

    checkpointer = Checkpointer(directory.checkpoints)
    try:
        yield checkpointer
    finally:
        checkpointer.close()


@contextlib.contextmanager
def _writes_explained(directory: RunDir, step, saved):
    """Re-raises an ``OSError`` from a metrics/status write as :class:`WriteFailed`."""
    try:
        yield
    except WriteFailed:
        raise
    except OSError as error:
        raise write_failed(error.filename or directory.path, step(), saved(), error) from error

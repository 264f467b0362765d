"""Many seeds × swept hyperparameters in one compiled program, chunk by chunk, resumable.

    result = run(cfg, seeds=8, sweep={"learning_rate": [1e-3, 1e-2]}, run_dir="runs/x")

The S seeds × P sweep points are M = S·P *members*, stacked on a leading axis and trained
by ``jax.jit`` of ``jax.vmap`` of the pure :class:`~rnn_jax.train.Trainer` (or by groups
of members running side by side on the CPU's cores, see ``members_per_call``). The member
axis is sharded over a ``jax.sharding.Mesh`` of every device, so the same call runs on 1
CPU, several (simulated) CPU devices or many GPUs. Each compiled training call runs
``cfg.eval_every`` steps and is followed by a compiled evaluation on the held-out set;
between chunks the runner shows progress, appends metrics to the run directory, records
diagnostics at the requested steps and saves an orbax checkpoint.

Calling ``run`` again on an existing run directory resumes from its last complete
checkpoint; the results are bit-identical to an uninterrupted run because every random
draw is ``fold_in(key, step)`` and the whole state is checkpointed. A directory whose
config differs from the call is refused with the differences listed.

Run directory::

    config.json                   what to rerun: TrainConfig, seeds, sweep, members, versions
    status.json                   last step, diverged members, finished
    metrics/train_<step>.npz      per-step training metrics of the chunk ending at <step>, [M, K]
    metrics/eval_<step>.npz       held-out metrics at <step>, [M]
    diagnostics/step_<step>.npz   ‖∂L/∂h_t‖ [M, layers, t], ‖∂h_T/∂h_t‖ [M, t], W_hh spectra
    checkpoints/<step>/           orbax checkpoint of the stacked TrainState
    figures/                      written by the experiments
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rnn_jax import _checks, configs, diagnostics
from rnn_jax.checkpoint import Checkpointer
from rnn_jax.train import SWEEPABLE, TrainConfig, Trainer, TrainState, make_train

MEMBER_AXIS = "members"


@dataclasses.dataclass(frozen=True)
class Members:
    """The seeds × sweep grid, flattened: member ``m`` is seed ``seeds[m % S]`` at sweep
    point ``m // S``."""

    seeds: tuple[int, ...]
    sweep: tuple[tuple[str, tuple[float, ...]], ...]

    @property
    def points(self) -> list[dict[str, float]]:
        names = [name for name, _ in self.sweep]
        return [dict(zip(names, values)) for values in itertools.product(*(v for _, v in self.sweep))]

    def __len__(self) -> int:
        return len(self.seeds) * len(self.points)

    def table(self, trainer: Trainer) -> list[dict[str, Any]]:
        """One row per member: ``member``, ``seed`` and every hyperparameter's value."""
        defaults = {k: float(v) for k, v in trainer.default_hparams().items()}
        rows = []
        for p, point in enumerate(self.points):
            for seed in self.seeds:
                rows.append({"member": len(rows), "seed": seed, **defaults, **point})
        return rows


def make_members(seeds: int | Sequence[int], sweep: Mapping[str, Any] | None) -> Members:
    """Checks ``seeds`` and ``sweep`` and builds the member grid."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = tuple(range(_checks.positive_int(seeds, "seeds")))
    elif isinstance(seeds, Iterable) and not isinstance(seeds, (str, bytes)):
        seeds = tuple(seeds)
        if not seeds:
            raise ValueError("seeds=() must name at least one seed")
        for s in seeds:
            _checks.nonneg_int(s, "seeds[i]")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds={seeds} repeats a seed")
    else:
        raise TypeError(f"seeds={seeds!r} must be a positive int (how many) or a sequence of ints")
    grid = []
    for name, values in (sweep or {}).items():
        if name not in SWEEPABLE:
            raise ValueError(f"sweep key {name!r} is not sweepable; expected one of {', '.join(SWEEPABLE)}")
        try:
            values = np.atleast_1d(np.asarray(values, dtype=float))
        except (TypeError, ValueError):
            raise ValueError(f"sweep[{name!r}]={values!r} must be a non-empty 1-D list of numbers") from None
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"sweep[{name!r}] must be a non-empty 1-D list of values, got shape {values.shape}")
        _checks.positive(values, f"sweep[{name!r}]")
        grid.append((name, tuple(float(v) for v in values)))
    return Members(seeds, tuple(grid))


def _stack_inputs(members: Members, trainer: Trainer) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each member's seed and hyperparameters as host arrays (the keys are made on device)."""
    rows = members.table(trainer)
    seeds = np.asarray([row["seed"] for row in rows], np.uint32)
    names = list(trainer.default_hparams()) + [n for n, _ in members.sweep if n not in trainer.default_hparams()]
    hparams = {n: np.asarray([row[n] for row in rows], np.float32) for n in names}
    return seeds, hparams


def choose_members_per_call(cfg: TrainConfig, devices: Sequence[jax.Device]) -> int | None:
    """The runner's measured rule for spreading members (``members_per_call="auto"``).

    Measured with ``benchmarks.strategies`` on a 2-core CPU (16 LSTM members on the adding
    problem, B=32, T=100, 200 steps; speed-up over training them one after another):

    - several devices (GPUs, TPUs, or host devices forced with ``XLA_FLAGS``): ``vmap``
      with the members sharded over the devices.
    - one CPU device: groups of ``k`` members, one compiled call per group and one call
      running per core at a time (see ``members_per_call``). XLA:CPU runs a batched matmul
      no faster per member than a single one, so a ``vmap`` over all 16 members gains
      little or loses (1.30x at h=16, 0.94x at h=32, 0.93x at h=64), while groups keep
      every core busy: widest layer <= 16: groups of 4 (2.18x; groups of 1: 1.88x);
      <= 32: groups of 2 (1.65x; 1 and 4 member(s) within 1% of it); wider: one member
      per call (h=64: 2.37x; groups of 2: 2.27x, of 4: 2.00x).
    - one GPU or TPU: ``vmap`` (batched matmuls are what accelerators are built for).

    Results depend on the choice only through float32 rounding (batched and single
    matmuls may sum in another order), never on the number of cores; a test checks this.
    """
    if len(devices) > 1 or devices[0].platform != "cpu":
        return None
    widest = max(cfg.model.layer_sizes)
    if widest <= 16:
        return 4
    return 2 if widest <= 32 else 1


def _resolve_members_per_call(value: int | None | str, cfg: TrainConfig, devices: Sequence[jax.Device]) -> int | None:
    """``run``'s ``members_per_call`` checked, with ``"auto"`` replaced by the measured rule."""
    if value == "auto":
        return choose_members_per_call(cfg, devices)
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(f"members_per_call={value!r} must be 'auto', None or a positive int")
    value = _checks.positive_int(value, "members_per_call")
    if len(devices) > 1:
        raise ValueError(
            f"members_per_call={value} runs groups of members on one device; with the {len(devices)} "
            "devices use None (vmap, sharded) or 'auto'"
        )
    return value


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class MemberPrograms:
    """Compiles functions of one member into programs over the stacked member axis.

    ``members_per_call=None``: one ``jit(vmap(fn))`` over every member, inputs and outputs
    on ``sharding``. ``k``: one compiled call per group of ``k`` members (a dynamic slice
    of the stacked inputs, then ``vmap``; a smaller last group gets its own compilation),
    the groups' calls run from one thread per core (XLA:CPU runs calls from different
    threads at the same time), and the outputs are concatenated again. The values depend
    on ``k``, not on the number of threads. Use as a context manager (it owns the threads).
    """

    def __init__(self, members: int, members_per_call: int | None, sharding: NamedSharding):
        self.sharding = sharding
        self.per_call = members_per_call
        k = members_per_call or members
        self.groups = [(start, min(k, members - start)) for start in range(0, members, k)]
        self._pool = None

    def __enter__(self) -> MemberPrograms:
        if self.per_call is not None and len(self.groups) > 1:
            from concurrent.futures import ThreadPoolExecutor

            workers = min(cores(), len(self.groups))
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rnn_jax-members")
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __call__(self, fn):
        """``fn`` of one member's arrays -> a function of the stacked arrays."""
        if self.per_call is None:
            return jax.jit(jax.vmap(fn), in_shardings=self.sharding, out_shardings=self.sharding)

        @functools.partial(jax.jit, static_argnames="size")
        def group(start, *xs, size):
            return jax.vmap(fn)(*jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, size), xs))

        concat = jax.jit(lambda parts: jax.tree.map(lambda *p: jax.numpy.concatenate(p), *parts))
        compiled = {}

        def over_members(*xs):
            # Traced and compiled here, in the caller's thread, so that its JAX settings
            # (``with jax.numpy_dtype_promotion(...)``, matmul precision...) apply; the
            # worker threads only run the compiled programs.
            for _, size in self.groups:
                if size not in compiled:
                    compiled[size] = group.lower(0, *xs, size=size).compile()

            def one(start_size):
                start, size = start_size
                return jax.block_until_ready(compiled[size](start, *xs))

            parts = self._pool.map(one, self.groups) if self._pool is not None else map(one, self.groups)
            return concat(list(parts))

        return over_members


def _atomic_write(path: str, write) -> None:
    """Writes via a temporary file in the same directory, then renames (never half a file).
    With several JAX processes only process 0 writes (the run directory is shared)."""
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


def save_npz(path: str, arrays: Mapping[str, Any]) -> None:
    _atomic_write(path, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))


def save_json(path: str, data: Any) -> None:
    _atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, sort_keys=True).encode()))


def environment() -> dict[str, Any]:
    """Package versions and devices, stored with every run."""
    import optax

    from rnn_jax import __version__

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {"rnn_jax": __version__, "jax": jax.__version__, "jaxlib": jax.lib.__version__,
                     "optax": optax.__version__, "numpy": np.__version__},
        "devices": [str(d) for d in jax.devices()],
        "processes": jax.process_count(),
        "backend": jax.default_backend(),
    }


@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns (also readable later with :func:`rnn_jax.results.load_run`).

    Attributes:
        run_dir: the run directory.
        members: one dict per member (``member``, ``seed``, hyperparameters).
        state: the final stacked :class:`~rnn_jax.train.TrainState` (leading axis = members).
        train: per-step training metrics, each ``[members, steps]``.
        eval: held-out metrics, each ``[members, len(eval_steps)]``.
        eval_steps: the steps of the evaluations.
        diagnostics: ``{step: {name: array}}`` recorded during the run.
        diverged: one dict per member that diverged (``member``, ``seed``, hparams, ``step``).
    """

    run_dir: str
    members: list[dict[str, Any]]
    state: TrainState | None
    train: dict[str, np.ndarray]
    eval: dict[str, np.ndarray]
    eval_steps: np.ndarray
    diagnostics: dict[int, dict[str, np.ndarray]]
    diverged: list[dict[str, Any]]


def _diagnose(trainer: Trainer, params, size: int, jacobian_batch: int) -> dict[str, jax.Array]:
    """Gradient and Jacobian norms on the first ``size`` held-out sequences (drawn inside the
    compiled program: no eager draws, and nothing when no diagnostics are asked for)."""
    model = trainer.model
    batch = jax.tree.map(lambda a: a[:size], trainer.task.eval_batch())
    grads = diagnostics.hidden_grad_norms(model, params, batch, trainer.task)
    cell_params = params["layers"][0]["fwd"]
    xs = batch.inputs[:jacobian_batch]
    return {
        "grad_norms": grads,
        "jacobian_spectral": diagnostics.jacobian_norms(model.cell_fn, cell_params, xs, norm="spectral"),
    }


def _spectra(trainer: Trainer, params) -> dict[str, np.ndarray]:
    """W_hh spectra of every layer and direction, [M, layers, directions, gates(, k)]."""
    gates = trainer.model.cell_fn.num_gates
    per_layer = [
        [diagnostics.recurrent_spectra(layer[d], gates) for d in ("fwd", "bwd") if d in layer]
        for layer in params["layers"]
    ]
    out = {}
    for name in ("radius", "singular_values"):
        # pad singular values to a common k across layers of different sizes
        arrays = [[s[name] for s in layer] for layer in per_layer]
        if name == "singular_values":
            k = max(a.shape[-1] for layer in arrays for a in layer)
            arrays = [[np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, k - a.shape[-1])], constant_values=np.nan) for a in layer] for layer in arrays]
        out[name] = np.stack([np.stack(layer, axis=1) for layer in arrays], axis=1)
    return out


def run(
    cfg: TrainConfig,
    seeds: int | Sequence[int] = 8,
    sweep: Mapping[str, Any] | None = None,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = True,
    diagnose_at: Sequence[int] | None = None,
    diagnostics_batch: int = 128,
    jacobian_batch: int = 8,
    checkpoint_every: int = 1,
    members_per_call: int | None | str = "auto",
    progress: bool = True,
    devices: Sequence[jax.Device] | None = None,
    debug: bool = False,
) -> RunResult:
    """Trains every seed × sweep point of ``cfg`` in one compiled program.

    Args:
        cfg: the training configuration (``cfg.steps`` must be a multiple of ``cfg.eval_every``,
            the number of steps per compiled call).
        seeds: how many seeds (0..S-1) or which seeds.
        sweep: ``{"learning_rate" | "clip" | "recurrent_scale": values}``; the grid of all
            combinations is crossed with the seeds.
        run_dir: where results go (created; an existing one is resumed). ``None``: a
            temporary directory and no checkpoints.
        resume: continue an existing run directory (``False`` refuses one that has
            checkpoints).
        diagnose_at: steps (multiples of ``eval_every``) at which to record diagnostics;
            default: 0, the first evaluation and the last step.
        diagnostics_batch: held-out sequences used for ‖∂L/∂h_t‖.
        jacobian_batch: sequences used for ‖∂h_T/∂h_t‖ (costs ``h`` backward passes each).
        checkpoint_every: save a checkpoint every this many chunks (and always at the end).
        members_per_call: ``"auto"`` (default) picks by the rule measured in
            :func:`choose_members_per_call`; ``None`` vmaps all members at once; ``k`` (one
            device only) compiles a call for ``k`` members and runs the groups one per CPU
            core at a time (see :class:`MemberPrograms`). Results agree to float32 rounding
            whichever is used, and do not depend on the number of cores.
        progress: show a tqdm progress bar.
        devices: devices for the member mesh (default: every device of every process; after
            ``jax.distributed.initialize`` the members are split over the processes, each
            computes its share, and process 0 writes the run directory).
        debug: when a member diverges, replay its step under ``checkify`` and report the
            operation (file and line) that produced the first NaN (costs one extra
            compilation per diverging member).

    Returns:
        A :class:`RunResult`.

    Ctrl-C (SIGINT) finishes the running chunk, saves a checkpoint and raises
    ``KeyboardInterrupt`` with how to resume; a second Ctrl-C stops at once. A process
    killed outright resumes from its last complete checkpoint. A run directory that cannot
    hold the run (not writable, too little free space) is refused before training; a write
    that fails later (disk full) raises ``OSError`` naming the file, the step and the
    checkpoint to resume from.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    if cfg.steps % cfg.eval_every:
        raise ValueError(
            f"cfg.steps={cfg.steps} must be a multiple of cfg.eval_every={cfg.eval_every}: the runner compiles "
            "one chunk of eval_every steps and repeats it"
        )
    members = make_members(seeds, sweep)
    _checks.positive_int(checkpoint_every, "checkpoint_every")
    _checks.positive_int(diagnostics_batch, "diagnostics_batch")
    _checks.positive_int(jacobian_batch, "jacobian_batch")
    devices = list(devices or jax.devices())[: len(members)]  # never more devices than members
    members_per_call = _resolve_members_per_call(members_per_call, cfg, devices)
    chunk = cfg.eval_every
    if diagnose_at is None:
        diagnose_at = sorted({0, chunk, cfg.steps})
    diagnose_at = tuple(sorted(set(_checks.nonneg_int(s, "diagnose_at[i]") for s in diagnose_at)))
    for s in diagnose_at:
        if s % chunk or s > cfg.steps:
            raise ValueError(f"diagnose_at step {s} must be a multiple of eval_every={chunk} and <= steps={cfg.steps}")

    trainer = make_train(cfg)
    rows = members.table(trainer)
    run_dir, checkpointing = _prepare_dir(run_dir, cfg, members, rows, diagnose_at, chunk, resume)
    if checkpointing:
        _check_free_space(run_dir, trainer, len(members), cfg.steps // chunk, len(diagnose_at))

    count = len(members)
    padded = -(-count // len(devices)) * len(devices)  # members padded to a multiple of the devices
    seeds, hparams = _stack_inputs(members, trainer)
    # padding members repeat member 0; their results are dropped
    seeds, hparams = jax.tree.map(lambda v: np.concatenate([v, np.repeat(v[:1], padded - count)]), (seeds, hparams))
    mesh = Mesh(np.asarray(devices), (MEMBER_AXIS,))
    sharding = NamedSharding(mesh, PartitionSpec(MEMBER_AXIS))
    # every process holds the same host values and places its own shards (multi-process safe)
    seeds, hparams = jax.tree.map(lambda v: jax.make_array_from_callback(v.shape, sharding, lambda i: v[i]),
                                  (seeds, hparams))

    with MemberPrograms(padded, members_per_call, sharding) as over:
        # Every program maps members to members: inputs and outputs stay sharded on the member
        # axis, so XLA needs no cross-device collective (which can deadlock host devices).
        init_all = over(lambda seed, hp: trainer.init(jax.random.key(seed), hp))
        # Evaluation is its own program, run after each chunk: inside the chunk program
        # it would be compiled twice (LSTM h=16, 4 members: 1.7 s more compilation).
        evaluate_all = over(trainer.evaluate)
        chunk_all = over(lambda state: trainer.train_chunk(state, chunk))
        diagnose_all = over(lambda params: _diagnose(trainer, params, diagnostics_batch, jacobian_batch))

        state = init_all(seeds, hparams)
        step = saved = 0
        checkpointer = Checkpointer(os.path.join(run_dir, "checkpoints")) if checkpointing else None
        if checkpointer is not None and resume and checkpointer.latest_step() is not None:
            step = saved = checkpointer.latest_step()
            state = checkpointer.restore(step, state)

        def write_eval(at, metrics):
            save_npz(os.path.join(run_dir, "metrics", f"eval_{at:08d}.npz"), {k: v[:count] for k, v in _host(metrics).items()})

        def write_diagnostics(at, params):
            values = {k: v[:count] for k, v in _host(diagnose_all(params)).items()}
            values.update({k: v[:count] for k, v in _spectra(trainer, _host(params)).items()})
            save_npz(os.path.join(run_dir, "diagnostics", f"step_{at:08d}.npz"), values)

        def save_checkpoint(at, state):
            try:
                checkpointer.save(at, state)
            except Exception as error:  # orbax/tensorstore wrap OS errors in their own types
                raise _write_failed(os.path.join(run_dir, "checkpoints", str(at)), at, saved, error) from error

        stop = _GracefulStop()
        bar = None
        try:
            with _writes_explained(run_dir, lambda: step, lambda: saved):
                if step == 0:
                    write_eval(0, evaluate_all(state.params))
                    if 0 in diagnose_at:
                        write_diagnostics(0, state.params)
                reported = {row["member"] for row in _diverged_rows(state, rows, count)}
                bar = _progress_bar(progress, cfg.steps, step)
                chunks_done = 0
                with stop:
                    while step < cfg.steps and not stop.requested:
                        new_state, train_metrics = chunk_all(state)
                        eval_metrics = evaluate_all(new_state.params)
                        state, step, chunks_done = new_state, step + chunk, chunks_done + 1
                        train_np = {k: v[:count] for k, v in _host(train_metrics).items()}
                        save_npz(os.path.join(run_dir, "metrics", f"train_{step:08d}.npz"), train_np)
                        write_eval(step, eval_metrics)
                        if step in diagnose_at:
                            write_diagnostics(step, state.params)
                        diverged = _diverged_rows(state, rows, count)  # one host read per chunk
                        reported |= _report_divergence(trainer, state, diverged, reported, debug)
                        if checkpointer is not None and (chunks_done % checkpoint_every == 0 or step == cfg.steps):
                            save_checkpoint(step, state)
                            saved = step
                        _write_status(run_dir, step, cfg.steps, diverged)
                        bar.update(chunk)
                        losses = train_np["loss"][:, -1]
                        finite = losses[np.isfinite(losses)]
                        if finite.size:
                            bar.set_postfix(loss=f"{finite.mean():.4g}", min=f"{finite.min():.4g}", max=f"{finite.max():.4g}")
                if stop.requested:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            if checkpointer is not None and step > saved:
                save_checkpoint(step, state)
                saved = step
            if checkpointer is None:
                where = "no run_dir was given, so nothing was saved"
            elif saved:
                where = f"step {saved} is saved; rerun the same command (run_dir={run_dir}) to resume"
            else:
                where = f"nothing was saved yet; rerunning the same command (run_dir={run_dir}) starts again"
            print(f"\ninterrupted at step {step}; {where}", file=sys.stderr)
            raise
        finally:
            if bar is not None:
                bar.close()
            if checkpointer is not None:
                checkpointer.close()
    _write_status(run_dir, step, cfg.steps, _diverged_rows(state, rows, count))
    from rnn_jax.results import load_run

    if jax.process_count() > 1:  # every process reads what process 0 wrote
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("rnn_jax.runner.run finished")
        state = _host(state)
    result = load_run(run_dir)
    result.state = jax.tree.map(lambda a: a[:count], state)
    return result


def primary_process() -> bool:
    """Whether this is process 0, the one that writes files and reports (always true in a
    single-process run)."""
    return jax.process_index() == 0


def _host(tree):
    """Device arrays -> numpy; with several processes, gathers the member axis from all.
    PRNG key arrays come back as (gathered) key arrays."""

    def one(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


def _progress_bar(enabled: bool, total: int, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", disable=not enabled or not primary_process(),
                dynamic_ncols=True)


def _diverged_rows(state: TrainState, rows: list[dict], count: int) -> list[dict[str, Any]]:
    at = _host(state.diverged_at)[:count]
    return [{**rows[m], "step": int(at[m])} for m in np.flatnonzero(at >= 0)]


def _report_divergence(trainer, state, diverged: list[dict[str, Any]], reported: set[int], debug: bool) -> set[int]:
    new = set()
    for row in diverged:
        if row["member"] not in reported:
            hp = ", ".join(f"{k}={v:g}" for k, v in row.items() if k not in ("member", "seed", "step"))
            origin = ""
            if debug and jax.process_count() > 1:
                origin = " (the debug replay runs in single-process runs only)"
            elif debug:
                member = jax.tree.map(lambda a: a[row["member"]], state)
                origin = f" (debug replay: {trainer.locate_nonfinite(member)})"
            warnings.warn(
                f"member {row['member']} (seed {row['seed']}, {hp}) became non-finite at step {row['step']}{origin}; "
                "it is frozen at its last finite state, the other members continue",
                RuntimeWarning,
                stacklevel=3,
            )
            new.add(row["member"])
    return new


def _write_status(run_dir, step, total, diverged: list[dict[str, Any]]) -> None:
    save_json(
        os.path.join(run_dir, "status.json"),
        {"step": int(step), "steps": int(total), "finished": bool(step >= total), "diverged": diverged},
    )


def _identity(cfg, members, diagnose_at, chunk) -> dict[str, Any]:
    """The part of config.json that must match for a resume."""
    return {
        "train_config": configs.to_dict(cfg),
        "seeds": list(members.seeds),
        "sweep": {name: list(values) for name, values in members.sweep},
        "diagnose_at": list(diagnose_at),
        "chunk_steps": chunk,
    }


def _prepare_dir(run_dir, cfg, members, rows, diagnose_at, chunk, resume) -> tuple[str, bool]:
    checkpointing = run_dir is not None
    if run_dir is None:
        run_dir = tempfile.mkdtemp(prefix="rnn_jax_run_")
    run_dir = os.path.abspath(os.fspath(run_dir))
    identity = _identity(cfg, members, diagnose_at, chunk)
    config_path = os.path.join(run_dir, "config.json")
    if os.path.exists(config_path):
        with open(config_path) as f:
            stored = json.load(f)
        old = {k: stored.get(k) for k in identity}
        diff = configs.differences(old, json.loads(json.dumps(identity)))
        if diff:
            raise ValueError(
                f"run_dir={run_dir} holds a different run; differences (stored -> requested): "
                + "; ".join(diff[:10]) + (" ..." if len(diff) > 10 else "")
                + ". Use another --run-dir or delete that directory."
            )
        if not resume and os.path.isdir(os.path.join(run_dir, "checkpoints")) and os.listdir(os.path.join(run_dir, "checkpoints")):
            raise ValueError(f"run_dir={run_dir} already has checkpoints and resume=False; pass resume=True to continue it")
    try:
        for sub in ("metrics", "diagnostics", "figures"):
            os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
        probe = os.path.join(run_dir, f".write_test_{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"run_dir={run_dir} is not writable: {error.strerror}") from None
    if not os.path.exists(config_path):
        task = cfg.task_fn
        save_json(config_path, {
            **identity,
            "members": rows,
            "task": {"name": task.name, "baseline_loss": task.baseline_loss, "seq_len": task.seq_len,
                     "success_metric": task.success_metric},
            "rebuildable": configs.is_rebuildable(identity["train_config"]),
            "environment": environment(),
        })
    return run_dir, checkpointing


class _GracefulStop:
    """While active (main thread only), the first SIGINT asks the loop to stop after the
    running chunk; a second one raises ``KeyboardInterrupt`` at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: stopping after this chunk and saving (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class WriteFailed(OSError):
    """A run-directory write failed (disk full, quota, permissions); the message names the
    file, the step and the checkpoint a rerun resumes from."""


def _write_failed(path: str, step: int, saved: int, error: BaseException) -> WriteFailed:
    cause = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
    failed = WriteFailed(f"writing {path} failed at step {step} ({cause}); the last complete checkpoint is "
                         f"step {saved}: free space (or fix the directory) and rerun the same command to resume")
    failed.errno = error.errno if isinstance(error, OSError) else None
    return failed


@contextlib.contextmanager
def _writes_explained(run_dir: str, step, saved):
    """Re-raises an ``OSError`` from a metrics/status write as :class:`WriteFailed`."""
    try:
        yield
    except WriteFailed:
        raise
    except OSError as error:
        raise _write_failed(error.filename or run_dir, step(), saved(), error) from error


def _state_bytes(trainer: Trainer, members: int) -> int:
    state = jax.eval_shape(trainer.init, jax.random.key(0))
    return members * sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(state)
                         if hasattr(leaf, "dtype") and not jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key))


def _check_free_space(run_dir: str, trainer: Trainer, members: int, chunks: int, diagnoses: int) -> None:
    """Refuses a run whose checkpoints and metrics would not fit on the disk (with margin)."""
    per_checkpoint = _state_bytes(trainer, members)
    metrics = chunks * members * trainer.cfg.eval_every * 4 * 8  # ~8 float32 metrics per step
    seq = trainer.task.seq_len or 1
    diagnostics_bytes = diagnoses * members * (trainer.model.num_layers + 1) * seq * 4
    needed = 3 * per_checkpoint + metrics + diagnostics_bytes + (1 << 20)
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise ValueError(
            f"run_dir={run_dir} has {free / 2**20:.1f} MiB free but this run needs about {needed / 2**20:.1f} MiB "
            "(checkpoints, metrics, diagnostics); free space or choose another --run-dir"
        )

"""What every experiment shares: the common CLI options (:class:`Common`, :class:`Training`),
the --quick preset, running one model per cell through the runner, and reporting.
Experiments stay thin on top of this: each overrides the defaults it needs (a field
redeclared with another default keeps its help text) and names its --quick values in
``QUICK``."""

from __future__ import annotations

import ast
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from rnn_jax import _checks, cells, runner, tasks

from rnn_jax.analysis import diagnostics, plots

from rnn_jax.io import results, rundir
from rnn_jax.runtime import compile_cache
from rnn_jax.optimizer import Optax
from rnn_jax.training import Gradient, TrainConfig, model_for

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class Common:
    QUICK: ClassVar[Mapping[str, Any]] = {"seeds": 2}
    """The --quick preset: values for fields the user did not set."""
    MAY_BE_EMPTY: ClassVar[tuple[str, ...]] = ("diagnose",)
    """Tuple options that may be given no value (every other one needs at least one)."""

    seeds: int = 8
    """Seeds per configuration (trained together in one program)."""
    run_dir: str = ""
    """Where results and figures go; rerunning on an existing directory resumes it."""
    quick: bool = False
    """A tiny preset that finishes in well under a minute (for tests and smoke runs)."""
    progress: bool = True
    """Show a progress bar."""
    compile_cache: bool = True
    """Keep compiled programs in JAX's persistent compilation cache, so a rerun compiles
    nothing (directory: $RNN_JAX_COMPILE_CACHE, else ~/.cache/rnn_jax/jax; shown above)."""
    tensorboard: str = ""
    """Also write TensorBoard event files here: DIR/<run>/<member>, one TensorBoard run per
    seed and swept value with its hyperparameters (`tensorboard --logdir DIR`; needs
    pip install 'rnn_jax[tensorboard]'). Empty: none."""
    debug: bool = False
    """When a seed diverges, replay its step under checkify and name the operation (file and
    line) that produced the first NaN."""
    diagnose: tuple[str, ...] = ("grad_norms", "lyapunov")
    """What the runner records at its diagnostics steps: grad_norms (‖∂L/∂h_t‖, the
    gradient figures), lyapunov (the Lyapunov figure), jacobian_spectral (‖∂h_T/∂h_t‖₂, in
    the results only). Each one asked for is compiled; none drawn is left out."""
    coordinator: str = ""
    """Several processes (jax.distributed): "host:port" of process 0 (with --num-processes and
    --process-id), or "auto" on Slurm, Open MPI or a TPU pod. Empty: one process."""
    num_processes: int = 1
    """How many processes run this command (with --coordinator host:port)."""
    process_id: int = 0
    """This process's index, 0 .. num-processes - 1 (with --coordinator host:port)."""

    def with_preset(self: C) -> C:
        """With ``quick``: the :attr:`QUICK` values for every field still at its default (in
        code a value equal to the default counts as not set; on the command line
        :func:`cli` tells a typed value from a default), and ``quick`` cleared."""
        if not self.quick:
            return self
        defaults = type(self)()
        changes = {k: v for k, v in self.QUICK.items() if getattr(self, k) == getattr(defaults, k)}
        return dataclasses.replace(self, quick=False, **changes)


@dataclasses.dataclass(frozen=True)
class Training(Common):
    """:class:`Common` plus what every training experiment sets."""

    QUICK: ClassVar[Mapping[str, Any]] = {**Common.QUICK, "steps": 40, "eval_every": 20, "batch_size": 16}
    MAY_BE_EMPTY: ClassVar[tuple[str, ...]] = (*Common.MAY_BE_EMPTY, "param_groups", "cell_options")

    steps: int = 1000
    """Training steps per seed."""
    eval_every: int = 100
    """Steps between held-out evaluations (and per compiled chunk)."""
    batch_size: int = 32
    """Sequences per step."""
    clip: float = 1.0
    """Clipping threshold: the largest global norm (Pascanu et al. 2013), or the largest |g|
    with --clipping value."""
    clipping: str = "global_norm"
    """How gradients are clipped: global_norm, value (element-wise, as Arjovsky et al. 2016's
    code), adaptive or none."""
    optimizer: str = "adam"
    """sgd, momentum, nesterov, rmsprop, adam or adamw."""
    rms_initial_scale: float = 0.0
    """rmsprop: the squared-gradient average before the first step (Arjovsky et al.: 1e-3)."""
    rms_eps: float = 1e-8
    """rmsprop: ε under the square root."""
    param_groups: tuple[str, ...] = ()
    """PATTERN=LR_SCALE entries: parameters whose name matches PATTERN (fnmatch) train at
    LR_SCALE × the learning rate (expRNN's A at a tenth: a=0.1)."""
    cell_options: tuple[str, ...] = ()
    """CELL.OPTION=VALUE entries, options of the cells made (LEM's step on the adding problem:
    lem.dt=0.0242; a coRNN's: cornn.dt=0.034 cornn.gamma=1.3)."""
    init: str = "torch"
    """Cell initialisation preset for the rnn, irnn, lstm and gru cells: torch, keras, irnn,
    arjovsky (Glorot-uniform per gate, zero biases, LSTM forget bias 1) or pascanu (sparse
    W_hh at spectral radius 0.95)."""
    omega: float = 0.0
    """α of Pascanu et al. 2013's regulariser Ω on the rnn / irnn cells (SGD-CR: 2 with
    global-norm clipping at 1); 0 turns it off."""
    train_size: int = 0
    """Train on a fixed set of this many sequences, the same for every seed (Arjovsky et al.
    used 1e5); 0 draws fresh sequences at every step."""
    remedies: bool = False
    """Also train the remedies for vanishing gradients: exprnn and scornn (orthogonal W_hh),
    urnn (unitary), lru (linear recurrent unit), mingru and minlstm (gates that read only the
    input), indrnn (element-wise recurrence), cornn and lem (oscillators and multiscale ODEs)
    and antisymmetric (W - Wᵀ)."""

    def optax(self, learning_rate: float, *, clipping: str | None = None, cosine_steps: int | None = None) -> Optax:
        """The experiment's optimiser at ``learning_rate``, spelt in optax: the clipping,
        the optimiser's scaling (per parameter group when ``--param-groups`` is given), an
        optional cosine decay to 0 over ``cosine_steps``, then ``scale_by_learning_rate``,
        so that one injected learning rate scales every group and stays sweepable."""
        clipping = self.clipping if clipping is None else clipping
        _checks.positive(learning_rate, "learning_rate")
        _checks.positive(self.clip, "clip")
        clips = {"global_norm": ("clip_by_global_norm", "max_norm"), "value": ("clip", "max_delta"),
                 "adaptive": ("adaptive_grad_clip", "clipping"), "none": None}
        rms = {}  # optax's defaults stay optax's constants; a value given is injected
        if self.rms_eps != 1e-8:
            rms["eps"] = self.rms_eps
        if self.rms_initial_scale != 0.0:
            rms["initial_scale"] = self.rms_initial_scale
        cores = {"sgd": (), "momentum": (Optax("trace", decay=0.9),),
                 "nesterov": (Optax("trace", decay=0.9, nesterov=True),), "rmsprop": (Optax("scale_by_rms", **rms),),
                 "adam": (Optax("scale_by_adam"),),
                 "adamw": (Optax("scale_by_adam"), Optax("add_decayed_weights", weight_decay=1e-4))}
        for name, table, flag in ((clipping, clips, "--clipping"), (self.optimizer, cores, "--optimizer")):
            if name not in table:
                raise ValueError(f"{flag} {name!r}: expected one of {', '.join(table)}")
        clip = () if clips[clipping] is None else (Optax(clips[clipping][0], **{clips[clipping][1]: float(self.clip)}),)
        core = cores[self.optimizer]
        if self.param_groups:
            groups = dict(map(_param_group, self.param_groups))
            transforms = {"rest": Optax("chain", *core)}
            transforms.update({f"group_{i}": Optax("chain", *core, Optax("scale", step_size=scale))
                               for i, scale in enumerate(groups.values())})
            labels = Optax("rnn_jax.optimizer.label_by_name", tuple((p, f"group_{i}") for i, p in enumerate(groups)))
            core = (Optax("partition", transforms, labels),)
        schedule = () if cosine_steps is None else (Optax("scale_by_schedule", Optax(
            "warmup_cosine_decay_schedule", init_value=0.0, peak_value=1.0, warmup_steps=0, decay_steps=cosine_steps,
            end_value=0.0)),)
        return Optax("chain", *clip, *core, *schedule, Optax("scale_by_learning_rate", learning_rate=float(learning_rate)))

    def options_of(self, cell: str) -> dict[str, Any]:
        """The --cell-options given for ``cell``, as ``{option: value}`` (numbers and bools
        parsed, anything else kept as a string)."""
        options = {}
        for entry in self.cell_options:
            name, sep, value = entry.partition("=")
            owner, dot, option = name.partition(".")
            if not (sep and dot and owner and option):
                raise ValueError(f"--cell-options {entry!r}: expected CELL.OPTION=VALUE, e.g. lem.dt=0.0242")
            if owner == cell:
                try:
                    options[option] = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    options[option] = value
        return options

    def with_remedies(self, cells: tuple[str, ...]) -> tuple[str, ...]:
        """``cells``, followed by the :data:`REMEDIES` not in it when ``--remedies`` is set."""
        return cells + tuple(c for c in REMEDIES if c not in cells) if self.remedies else cells


def _param_group(entry: str) -> tuple[str, float]:
    """``(pattern, lr_scale)`` of one ``--param-groups`` entry, ``PATTERN=LR_SCALE``."""
    pattern, _, scale = entry.rpartition("=")
    try:
        value = float(scale)
    except ValueError:
        value = 0.0
    if not pattern or value <= 0:
        raise ValueError(f"--param-groups {entry!r}: expected PATTERN=LR_SCALE with LR_SCALE > 0, e.g. a=0.1")
    return pattern, value


REMEDIES = ("exprnn", "lru", "mingru", "minlstm", "urnn", "scornn", "indrnn", "cornn", "lem", "antisymmetric")
"""The cells beyond gating that ``--remedies`` adds to an experiment."""


@dataclasses.dataclass(frozen=True)
class Comparison(Training):
    """:class:`Training` for experiments that compare cells of one size."""

    QUICK: ClassVar[Mapping[str, Any]] = {**Training.QUICK, "hidden_size": 8}
    MAY_BE_EMPTY: ClassVar[tuple[str, ...]] = (*Training.MAY_BE_EMPTY, "chrono_cells")

    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    """Cells to compare (registered names)."""
    chrono_cells: tuple[str, ...] = ("lstm", "gru")
    """Gated cells given chrono initialisation with T_max = the task's sequence length (Tallec &
    Ollivier 2018, "Can recurrent neural networks warp time?"); the others keep PyTorch's
    default. Pass none for PyTorch's default everywhere."""
    hidden_size: int = 64
    """Hidden units per cell."""
    layers: int = 1
    """Stacked recurrent layers per cell, each of --hidden-size units (Li et al. 2018 train a
    two-layer IndRNN on the adding problem)."""
    learning_rate: float = 3e-3
    """Learning rate (of --optimizer)."""

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """The hidden size of each layer."""
        return (self.hidden_size,) * self.layers


def cli(main: Callable[[Any], Any], config_type: type) -> None:
    """Parses the command line into ``config_type`` (tyro) and runs ``main``. A bad value
    that the library refuses (``ValueError``) ends the program with its one-line message and
    exit code 2; a failed write (disk full) with its message and exit code 1; Ctrl-C, after
    the runner has saved, with exit code 130 and no traceback. Anything else (a
    ``TypeError`` too: tyro has already typed every value) is a bug and keeps its traceback."""
    cfg = parse(config_type)
    try:
        if isinstance(cfg, Common):  # experiments that train; figures and reproduce only read or delegate
            if cfg.compile_cache:
                compile_cache.enable()
            else:
                compile_cache.disable()
            _start_processes(cfg)
        main(cfg)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        _join_background_threads()
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _join_background_threads(timeout: float = 10.0) -> None:
    """Waits for other non-daemon threads (orbax's writers) to end, so that a failed write
    they log from their own thread does not print after the one-line ``error:`` message.

    Orbax's asyncio futures that failed with the same write error are logged by asyncio
    ("Future exception was never retrieved") when they are garbage-collected, which could
    happen after the message, at exit (seen once in CI). Collecting now logs those above
    it; asyncio's logger is then quietened for the shutdown, the failure having been reported.
    """
    import gc
    import logging
    import threading

    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout)
    gc.collect()
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def _start_processes(cfg: Common) -> None:
    """``jax.distributed.initialize`` when the command runs as one of several processes."""
    if not cfg.coordinator:
        if cfg.num_processes != 1 or cfg.process_id != 0:
            raise ValueError("--num-processes/--process-id need --coordinator host:port (or auto)")
        return
    import jax

    if cfg.coordinator == "auto":
        jax.distributed.initialize()
        return
    if cfg.num_processes < 1 or not 0 <= cfg.process_id < cfg.num_processes:
        raise ValueError(f"--process-id {cfg.process_id} --num-processes {cfg.num_processes}: expected "
                         "num-processes >= 1 and 0 <= process-id < num-processes")
    if ":" not in cfg.coordinator:
        raise ValueError(f"--coordinator {cfg.coordinator!r}: expected host:port or auto")
    jax.distributed.initialize(cfg.coordinator, num_processes=cfg.num_processes, process_id=cfg.process_id)


def _description(config_type: type) -> str:
    """The config's docstring, and for training experiments where compiled programs are kept."""
    import inspect

    text = inspect.getdoc(config_type) or ""
    if issubclass(config_type, Common):
        directory = compile_cache.default_directory()
        text += f"\n\nJAX's compilation cache: {directory or 'off'} (--no-compile-cache, or {compile_cache.ENV}=off, turns it off)."
    return text


def parse(config_type: type, args: Sequence[str] | None = None):
    """``tyro.cli`` on ``args`` (default: the command line), with the --quick preset as the
    default when ``--quick`` is given, and tyro's boxed parse errors condensed to one
    ``error:`` line (exit 2)."""
    import contextlib
    import io

    import tyro

    default = None
    if issubclass(config_type, Common) and "--quick" in (sys.argv[1:] if args is None else args):
        # the preset becomes tyro's default, so that every value typed on the command line wins
        default = config_type(quick=True).with_preset()
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            cfg = tyro.cli(config_type, default=default, args=args, description=_description(config_type))
            return cfg if default is None else dataclasses.replace(cfg, quick=False)
    except SystemExit as stop:
        if not stop.code:
            sys.stderr.write(captured.getvalue())
            raise
        # tyro draws a box (unicode on a terminal, ASCII otherwise): a title line, then the message
        lines = [line.strip(" \t│╭╮╰╯─|") for line in captured.getvalue().splitlines()]
        lines = [line for line in lines if set(line) - set("-─ ")]
        message = lines[1] if len(lines) > 1 else "invalid command line"
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def start(cfg: C) -> C:
    """``cfg`` with its --quick preset applied and checked (see :func:`check_common`)."""
    cfg = cfg.with_preset()
    check_common(cfg)
    return cfg


def check_common(cfg: Common) -> None:
    """Experiment options that the library cannot check for us (exits 2 with a message).
    Every tuple option needs a value, except those in ``cfg.MAY_BE_EMPTY``."""
    problems = []
    if cfg.seeds < 1:
        problems.append(f"--seeds {cfg.seeds}: expected a positive number of seeds")
    if not cfg.run_dir:
        problems.append("--run-dir: expected a directory path")
    unknown = [d for d in cfg.diagnose if d not in diagnostics.RECORDABLE]
    if unknown:
        problems.append(f"--diagnose {' '.join(unknown)}: expected names from {' '.join(diagnostics.RECORDABLE)}")
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        if isinstance(value, tuple) and not value and field.name not in cfg.MAY_BE_EMPTY:
            problems.append(f"--{field.name.replace('_', '-')}: expected at least one value")
    if problems:
        raise ValueError("; ".join(problems))


INIT_PRESET_CELLS = ("rnn", "irnn", "lstm", "gru")
"""The cells that take an initialisation preset (``--init``)."""


def train_config(cfg: Training, task, cell: str, hidden_size: int | tuple[int, ...], optimizer: Optax,
                 **model_options) -> TrainConfig:
    """One run of ``cell`` on ``task`` with the experiment's steps, evaluation interval, batch
    size, fixed training set and (for the classic cells) initialisation preset. ``indrnn`` is
    bounded for the task's length, ``|u| ≤ 2^{1/T}``, as its authors train it."""
    if cfg.init != "torch" and cell in INIT_PRESET_CELLS:
        model_options["cell_options"] = {"init": cfg.init, **model_options.get("cell_options", {})}
    if cell == "indrnn":
        model_options["cell_options"] = {"seq_len": tasks.get(task).seq_len, **model_options.get("cell_options", {})}
    given = cfg.options_of(cell)
    if given:
        model_options["cell_options"] = {**model_options.get("cell_options", {}), **given}
        try:
            cells.get(cell, **model_options["cell_options"])
        except TypeError as error:  # an option the cell does not take: a mistyped command line
            raise ValueError(f"--cell-options: {error}") from None
    return TrainConfig(
        model=model_for(task, cell, hidden_size, **model_options), task=task, optimizer=optimizer,
        steps=cfg.steps, batch_size=cfg.batch_size, eval_every=cfg.eval_every, train_size=cfg.train_size or None,
        gradient=Gradient(omega=cfg.omega),
    )


def cell_options(cfg: Comparison, cell: str, task) -> dict[str, Any]:
    """The cell options a comparison gives ``cell`` on ``task``: chrono initialisation with
    T_max = the task's sequence length for the cells in ``cfg.chrono_cells``."""
    return {"chrono": float(task.seq_len)} if cell in cfg.chrono_cells else {}


def cell_grid(cfg: Comparison, tasks: Mapping[str, Any]) -> dict[str, TrainConfig]:
    """One run per task × cell (the experiment's optimiser at ``cfg.learning_rate``), named ``CELL_SUFFIX`` for each ``{SUFFIX: task}``."""
    optimizer = cfg.optax(cfg.learning_rate)
    return {f"{cell}_{suffix}": train_config(cfg, task, cell, cfg.layer_sizes, optimizer,
                                             cell_options=cell_options(cfg, cell, task))
            for suffix, task in tasks.items() for cell in cfg.with_remedies(cfg.cells)}


def run_all(experiment: str, configs: Mapping[str, TrainConfig], cfg: Common, *, sweep=None, sweeps=None,
            **run_options) -> results.Results:
    """Runs each named TrainConfig into ``run_dir/name``; returns their results, loaded.
    ``sweep`` is every run's sweep; ``sweeps`` (``{name: sweep}``) gives some runs their own.

    ``run_dir/experiment.json`` records which experiment made the directory and its runs, so
    ``python -m experiments.figures`` can redraw the figures without retraining.
    """
    paths = rundir.write_experiment(cfg.run_dir, experiment, list(configs), dataclasses.asdict(cfg))
    for path, (name, train_cfg) in zip(paths, configs.items()):
        print(f"== {name}: {train_cfg.model.cell_name} on {train_cfg.task_fn.name}, {cfg.seeds} seeds -> {path}", flush=True)
        run_options.setdefault("diagnose", cfg.diagnose)
        runner.run(train_cfg, seeds=cfg.seeds, sweep=(sweeps or {}).get(name, sweep), run_dir=path, progress=cfg.progress, debug=cfg.debug,
                   tensorboard=os.path.join(cfg.tensorboard, name) if cfg.tensorboard else None, **run_options)
    return results.load(paths)


def write_figures(figures: Mapping[str, Callable[[], Any]], run_dir: str) -> list[str]:
    """Draws and saves each figure into the experiment directory's figures folder."""
    written = []
    if not rundir.primary_process():  # with several processes, process 0 draws and reports
        return written
    for name, make in figures.items():
        written += plots.save(make(), rundir.figures_dir(run_dir), name)
    return written


def finish_classification(res, run_dir: str, title: str):
    """Test accuracy and cross-entropy curves, and the summary table, of a classification experiment."""
    written = write_figures({
        "accuracy": lambda: plots.learning_curves(res, "accuracy", title=f"{title}: test accuracy"),
        "learning_curves": lambda: plots.learning_curves(res, title=f"{title}: test cross-entropy"),
    }, run_dir)
    report(results.summary(res), written, run_dir)
    return res


def report(table, figures: Sequence[str], run_dir: str) -> None:
    import pandas as pd

    if not rundir.primary_process():
        return
    with pd.option_context("display.width", 120, "display.max_columns", 20, "display.precision", 4):
        print(table.to_string(index=False))
    print(f"\nresults: {os.path.abspath(run_dir)}")
    for path in figures:
        print(f"figure:  {path}")

"""What every experiment shares: the common CLI options (:class:`Common`, :class:`Training`),
the --quick preset, running one model per cell through the runner, and reporting.
Experiments stay thin on top of this: each overrides the defaults it needs (a field
redeclared with another default keeps its help text) and names its --quick values in
``QUICK``."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

from tyro.conf import arg as tyro_arg

from experiments import _cell_options
from rnn_jax import _checks, cells, optimizer, runner, tasks

from rnn_jax.analysis import diagnostics, plots

from rnn_jax.io import results, rundir
from rnn_jax.runtime import compile_cache
from rnn_jax.optimizer import Optax
from rnn_jax.training import Gradient, TrainConfig, model_for

C = TypeVar("C")
CellOptions = _cell_options.options_type()


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
    pdf: bool = False
    """Also write each figure as PDF, beside its PNG (or later: python -m experiments.figures --pdf)."""
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

    steps: int = 1000
    """Training steps per seed."""
    eval_every: int = 100
    """Steps between held-out evaluations (and per compiled chunk)."""
    batch_size: int = 32
    """Sequences per step."""
    optimizer: str = "adam"
    """The optax optimiser, by its name in optax (adam, adamw, sgd, rmsprop, lion, adafactor,
    optax.contrib.prodigy...) or one registered with rnn_jax.optimizer.register; it is given the
    learning rate and --optimizer-args."""
    optimizer_args: dict[str, float | bool] = dataclasses.field(default_factory=dict)
    """The optimiser's other keyword arguments, NAME VALUE pairs in optax's own names:
    momentum 0.9 nesterov True (sgd), weight_decay 1e-4 (adamw), initial_scale 1e-3 eps 1e-30
    (rmsprop, as Arjovsky et al. 2016's code)."""
    clipping: str | None = "clip_by_global_norm"
    """The optax transform that clips the gradient before the optimiser, given --clip as its
    threshold: clip_by_global_norm (Pascanu et al. 2013), clip (element-wise, as Arjovsky et
    al. 2016's code), adaptive_grad_clip; None: no clipping."""
    clip: float = 1.0
    """The clipping threshold: the first argument of --clipping (max_norm, max_delta...)."""
    lr_scales: dict[str, float] = dataclasses.field(default_factory=dict)
    """Parameter groups, PATTERN SCALE pairs: parameters whose name matches PATTERN (fnmatch)
    train at SCALE × the learning rate (expRNN's A at a tenth: a 0.1)."""
    cell_options: Annotated[CellOptions, tyro_arg(name="")] = CellOptions()
    """Options of the cells made, one group per cell (--lem.dt 0.0242, --cornn.gamma 1.3)."""
    first_layer: CellOptions = CellOptions()
    """Options of the first layer's cell, over the cells' own (--first-layer.indrnn.recurrent-init
    uniform: Li et al.'s first IndRNN layer draws u from [0, 2^(1/T)], their last near 1)."""
    head_init: str | None = None
    """The linear head's initialisation: torch (U(±1/sqrt(fan_in)), a random bias) or glorot
    (Glorot-uniform, a zero bias: Keras's Dense, Lasagne's DenseLayer, Arjovsky et al.'s code);
    None: glorot under --init keras or arjovsky, torch otherwise."""
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

    def optax(self, learning_rate: float, *, clipping: str | None | object = ..., cosine_steps: int | None = None) -> Optax:
        """The experiment's optimiser at ``learning_rate``, spelt in optax: the clipping
        (``clipping`` replaces --clipping), the optimiser with its arguments, the parameter
        groups' scales, and an optional cosine decay to 0 over ``cosine_steps``. Its one
        ``learning_rate`` is injected, so a sweep of it is one compiled program."""
        clipping = self.clipping if clipping is ... else clipping
        _checks.positive(learning_rate, "learning_rate")
        _checks.positive(self.clip, "clip")
        chain = [] if clipping is None else [_clip(clipping, self.clip)]
        try:
            optimizer.resolve(self.optimizer)
        except (TypeError, ValueError) as error:
            raise ValueError(f"--optimizer {self.optimizer}: {error}") from None
        try:
            chain.append(Optax(self.optimizer, learning_rate=float(learning_rate), **self.optimizer_args))
        except (TypeError, ValueError) as error:
            raise ValueError(f"--optimizer-args {self.optimizer_args}: {error}") from None
        if self.lr_scales:
            bad = {p: s for p, s in self.lr_scales.items() if not s > 0}
            if bad:
                raise ValueError(f"--lr-scales {bad}: expected PATTERN SCALE pairs with SCALE > 0, e.g. a 0.1")
            groups = {f"group_{i}": Optax("scale", step_size=float(s)) for i, s in enumerate(self.lr_scales.values())}
            labels = Optax("rnn_jax.optimizer.label_by_name", tuple((p, f"group_{i}") for i, p in enumerate(self.lr_scales)))
            chain.append(Optax("partition", {"rest": Optax("identity"), **groups}, labels))
        if cosine_steps is not None:
            chain.append(Optax("scale_by_schedule", Optax(
                "warmup_cosine_decay_schedule", init_value=0.0, peak_value=1.0, warmup_steps=0,
                decay_steps=cosine_steps, end_value=0.0)))
        return Optax("chain", *chain)

    def options_of(self, cell: str) -> dict[str, Any]:
        """The options given on the command line for ``cell`` (``--lem.dt 0.0242``)."""
        return _cell_options.given(self.cell_options, cell)

    def with_remedies(self, cells: tuple[str, ...]) -> tuple[str, ...]:
        """``cells``, followed by the :data:`REMEDIES` not in it when ``--remedies`` is set."""
        return cells + tuple(c for c in REMEDIES if c not in cells) if self.remedies else cells


def _clip(name: str, threshold: float) -> Optax:
    """The optax transform ``name`` with ``threshold`` as its first argument, by that argument's name."""
    import inspect

    try:
        first = next(iter(inspect.signature(optimizer.resolve(name)).parameters), None)
    except (TypeError, ValueError) as error:
        raise ValueError(f"--clipping {name}: {error}") from None
    if first is None:
        raise ValueError(f"--clipping {name}: expected an optax transform that takes a threshold")
    return Optax(name, **{first: float(threshold)})


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
    """The learning rate of --optimizer."""

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
        with plots.formats("png", "pdf") if getattr(cfg, "pdf", False) else contextlib.nullcontext():
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


def argv(cfg: Any, base: Any = None) -> list[str]:
    """The command-line arguments that :func:`parse` turns into ``cfg``: a flag for every
    field that differs from ``base`` (default: the config type's defaults), in field order.
    The cell options give ``--CELL.OPTION VALUE`` for each option given (each is ``T | None``,
    so a bool takes a value too: ``--mingru.log-space False``)."""
    base = type(cfg)() if base is None else base
    args = []
    for field in dataclasses.fields(cfg):
        value, default = getattr(cfg, field.name), getattr(base, field.name)
        if value == default:
            continue
        if isinstance(value, CellOptions):  # --CELL.OPTION for cell_options, --FIELD.CELL.OPTION for others
            prefix = "" if field.name == "cell_options" else field.name.replace("_", "-") + "."
            for cell in (f.name for f in dataclasses.fields(value)):
                given = _cell_options.given(value, cell).items() - _cell_options.given(default, cell).items()
                args += [w for option, v in sorted(given)
                         for w in (f"--{prefix}{cell}.{option.replace('_', '-')}", _word(v))]
        else:
            args += flag(field.name, value)
    return args


def flag(name: str, value: Any) -> list[str]:
    """``name=value`` on the command line: ``--name VALUE``, ``--name`` / ``--no-name`` for a
    bool, ``--name A B`` for a tuple, ``--name KEY VALUE ...`` for a dict."""
    option = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [option if value else "--no-" + option[2:]]
    if isinstance(value, tuple):
        return [option, *map(_word, value)]
    if isinstance(value, Mapping):
        return [option, *(w for k, v in value.items() for w in (_word(k), _word(v)))]
    return [option, _word(value)]


def _word(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    return repr(value) if isinstance(value, float) else str(value)


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
        except (TypeError, ValueError) as error:  # an option the cell does not take, or a bad value
            raise ValueError(f"--{cell}.* {given}: {error}") from None
    first = _cell_options.given(cfg.first_layer, cell)
    if first:
        layers = len(hidden_size) if isinstance(hidden_size, tuple) else 1
        try:
            cells.get(cell, **{**model_options.get("cell_options", {}), **first})
        except (TypeError, ValueError) as error:
            raise ValueError(f"--first-layer.{cell}.* {first}: {error}") from None
        model_options["layer_options"] = (first,) + ({},) * (layers - 1)
    if cfg.head_init is not None:
        model_options["head_init"] = cfg.head_init
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

"""Training: a whole run as one pure function of a key, so many seeds are one ``vmap``.

    train = make_train(cfg)                                  # a Trainer
    state, history = jax.jit(train)(key, train.default_hparams())
    # many seeds x a learning-rate sweep, one compiled program:
    states, histories = jax.jit(jax.vmap(train))(keys, {"learning_rate": lrs, "clip": clips})

``hparams`` holds the swept values as arrays: ``learning_rate`` and ``clip`` (injected into
the optax state) and optionally ``recurrent_scale`` (multiplies every ``w_hh`` at init, the
same as the cell option of that name). Nothing swept is a closed-over Python float.

A run is a ``lax.scan`` over evaluation intervals, each a ``lax.scan`` of ``eval_every``
training steps followed by an evaluation on the task's fixed held-out set (no ``lax.cond``,
which under ``vmap`` would evaluate at every step). ``train_chunk`` runs K steps at a time
for runners that report progress and checkpoint between chunks.

A step whose loss, gradient norm or updated parameters are not finite is not applied: the
run is frozen at its last finite state from then on and ``state.diverged_at`` records the
step (``-1`` while healthy), so one diverging seed never contaminates the others.
:meth:`Trainer.locate_nonfinite` replays that step under ``checkify`` to name the operation
that produced the first NaN.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax import _checks, tasks

from rnn_jax.io import configs

from rnn_jax.training import optim, regularizers
from rnn_jax.cells.base import REGISTRY as CELLS
from rnn_jax.training.hparams import CLIP, INJECTED, RECURRENT_SCALE, SWEEPABLE
from rnn_jax.model import SequenceModel
from rnn_jax.training.optim import OptimConfig
from rnn_jax.tasks.base import REGISTRY as TASKS
from rnn_jax.tasks.base import Task
from rnn_jax.types import Batch, Readout

Hparams = dict[str, jax.Array]


class TrainState(NamedTuple):
    """Everything a run carries from step to step (per seed; the runner stacks a leading axis).

    Attributes:
        params: model parameters.
        opt_state: the injected optax state (holds ``learning_rate`` and ``clip``).
        step: ``[]`` int32, steps taken.
        key: the run's key; step ``n`` uses ``fold_in(key, n)``.
        diverged_at: ``[]`` int32, the first step whose loss or gradients were not finite,
            ``-1`` if none. From then on updates are skipped.
    """

    params: Any
    opt_state: Any
    step: jax.Array
    key: jax.Array
    diverged_at: jax.Array


class History(NamedTuple):
    """Metrics of one run (arrays gain a leading seed axis under ``vmap``).

    Attributes:
        train: per-step metrics on the training batch, each ``[steps]``.
        eval: metrics on the held-out set, each ``[len(eval_steps)]``.
    """

    train: dict[str, jax.Array]
    eval: dict[str, jax.Array]


def model_for(task: Task | str, cell: str = "lstm", hidden_size: int | tuple[int, ...] = 128, **options) -> SequenceModel:
    """A :class:`SequenceModel` whose head and readout fit ``task``."""
    task = tasks.get(task)
    options.setdefault("readout", Readout.ALL if task.readout.per_step else Readout.LAST)
    if Readout(options["readout"]) is Readout.FLAT:
        options.setdefault("seq_len", task.seq_len)
    return SequenceModel(cell, hidden_size, output_size=task.output_size, **options)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        model: the :class:`SequenceModel` (its ``output_size`` must equal the task's, and
            ``readout`` must be ``"all"`` exactly when the task's is; see :func:`model_for`).
        task: a registered task name or a :class:`~rnn_jax.tasks.Task`.
        task_options: options for ``tasks.get(task, **task_options)``.
        optim: the :class:`~rnn_jax.training.optim.OptimConfig`.
        steps: training steps (>= 1).
        batch_size: sequences per step (>= 1).
        eval_every: steps between evaluations on the held-out set (>= 1); there is always
            one at step 0 and one at the end.
        train_size: ``None`` (default): every step draws fresh sequences. A number ``N``:
            training draws (with replacement) from a fixed set of ``N`` sequences, the same
            for every seed (:meth:`~rnn_jax.tasks.Task.training_sequence`), as Arjovsky et
            al. 2016 trained on 1e5 fixed sequences.
        omega: α of Pascanu et al. 2013's regulariser Ω (:mod:`rnn_jax.training.regularizers`):
            ``α ∇Ω`` is added to the gradient before clipping (0: off; they used 2). For
            one-layer, unidirectional rnn / irnn models.
    """

    model: SequenceModel = SequenceModel("lstm", 128)
    task: str | Task = "adding"
    task_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()
    optim: OptimConfig = OptimConfig()
    steps: int = 1000
    batch_size: int = 32
    eval_every: int = 100
    train_size: int | None = None
    omega: float = 0.0

    def __post_init__(self):
        if self.train_size is not None:
            _checks.positive_int(self.train_size, "train_size")
        _checks.number(self.omega, "omega", low=0.0)
        if self.omega and isinstance(self.model, SequenceModel) and (
                self.model.num_layers != 1 or self.model.bidirectional or not regularizers.supports(self.model.cell_fn)):
            raise ValueError(f"omega={self.omega!r}: Pascanu et al.'s regulariser is defined here for one-layer, "
                             f"unidirectional rnn or irnn models; got {self.model.num_layers} layer(s) of "
                             f"{self.model.cell_fn.name!r}{', bidirectional' if self.model.bidirectional else ''}")
        if isinstance(self.task_options, Mapping):
            object.__setattr__(self, "task_options", tuple(sorted(self.task_options.items())))
        if not isinstance(self.model, SequenceModel):
            raise TypeError(f"model must be a SequenceModel, got {type(self.model).__name__}")
        if not isinstance(self.optim, OptimConfig):
            raise TypeError(f"optim must be an OptimConfig, got {type(self.optim).__name__}")
        _checks.positive_int(self.steps, "steps")
        _checks.positive_int(self.batch_size, "batch_size")
        _checks.positive_int(self.eval_every, "eval_every")
        task = self.task_fn
        if self.model.output_size != task.output_size:
            raise ValueError(
                f"model.output_size={self.model.output_size} but task {task.name!r} has output_size="
                f"{task.output_size}; build the model with rnn_jax.training.trainer.model_for(task, ...)"
            )
        if self.model.readout.per_step != task.readout.per_step:
            raise ValueError(
                f"model.readout={self.model.readout.value!r} does not fit task {task.name!r} "
                f"(readout {task.readout.value!r}): one output per "
                f"{'step' if task.readout.per_step else 'sequence'} is expected"
            )

    @functools.cached_property
    def task_fn(self) -> Task:
        """The task instance (made once per config)."""
        if isinstance(self.task, Task):
            if self.task_options:
                raise ValueError("task_options cannot be used with a Task instance")
            return self.task
        return tasks.get(self.task, **dict(self.task_options))

    @property
    def eval_steps(self) -> np.ndarray:
        """The steps at which the held-out set is evaluated: 0, eval_every, ..., steps."""
        points = list(range(0, self.steps, self.eval_every)) + [self.steps]
        return np.asarray(points)


def _scale_recurrent(params, scale):
    """Multiplies every layer's ``w_hh`` by ``scale`` (a traced scalar)."""
    layers = [
        {direction: {**p, "w_hh": p["w_hh"] * scale} for direction, p in layer.items()} for layer in params["layers"]
    ]
    return {**params, "layers": layers}


def _source_line(error: BaseException | None) -> str | None:
    """``file:line (code)`` of the innermost traceback frame outside JAX's own sources."""
    import traceback

    if error is None:
        return None
    jax_dir = os.path.dirname(jax.__file__)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(jax_dir)]
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} ({frame.line})"


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _where_tree(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: jit caches per Trainer
class Trainer:
    """Pure training functions for one :class:`TrainConfig`. Calling it runs a whole run.

    Every method is a pure function of arrays (safe under ``jit`` and ``vmap``).
    """

    cfg: TrainConfig

    @functools.cached_property
    def tx(self) -> optax.GradientTransformation:
        """The optimiser after clipping: :meth:`train_step` clips the gradients itself, once."""
        return optim.build(self.cfg.optim, include_clipping=False)

    @property
    def model(self) -> SequenceModel:
        return self.cfg.model

    @property
    def task(self) -> Task:
        return self.cfg.task_fn

    @functools.cached_property
    def _config_dict(self) -> dict[str, Any] | None:
        """``configs.to_dict(cfg)``, or ``None`` when it stores part of the config only as a ``repr``."""
        data = configs.to_dict(self.cfg)
        return data if configs.is_rebuildable(data) else None

    def program_key(self, *, with_init: bool) -> tuple[Any, ...] | None:
        """What identifies this trainer's compiled programs, so that runs in one process
        share them (:class:`~rnn_jax.runner.MemberPrograms`); ``None`` (share nothing) when
        :func:`~rnn_jax.io.configs.to_dict` does not describe the config fully (a task of
        one's own with a field it can store only as its ``repr``, say).

        Args:
            with_init: the program calls :meth:`init`. Otherwise the cell's ``init_options``
                are left out, so runs that differ only in their initialisation (chrono
                against PyTorch's init) share it.

        Besides the config's values the key holds the classes and the registered factories
        it names, so a cell or task registered again under the same name (a notebook cell
        run twice) gets programs of its own.
        """
        data = self._config_dict
        if data is None:
            return None
        if not with_init:
            init_only = set(self.model.cell_fn.init_options)
            options = [kv for kv in data["model"]["cell_options"] if kv[0] not in init_only]
            data = {**data, "model": {**data["model"], "cell_options": options}}
        task_factory = TASKS.factory(self.cfg.task) if isinstance(self.cfg.task, str) else None
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        return (digest, type(self.cfg), type(self.model), type(self.task), CELLS.factory(self.model.cell), task_factory)

    def default_hparams(self) -> Hparams:
        """The config's own values, as float32 arrays (what a sweep replaces)."""
        return {name: jnp.float32(getattr(self.cfg.optim, name)) for name in INJECTED}

    def _hparams(self, hparams: Mapping[str, Any] | None) -> Hparams:
        values = self.default_hparams()
        if hparams:
            unknown = set(hparams) - set(SWEEPABLE)
            if unknown:
                raise ValueError(f"hparams has unknown keys {sorted(unknown)}; sweepable: {', '.join(SWEEPABLE)}")
            if RECURRENT_SCALE in hparams:
                cell = self.model.cell_fn
                names = jax.eval_shape(lambda k: cell.init(k, 1, 2), jax.random.key(0))
                if "w_hh" not in names:
                    raise ValueError(f"hparams[{RECURRENT_SCALE!r}] scales w_hh, and the {cell.name!r} cell stores "
                                     f"none (its parameters: {', '.join(sorted(names))})")
            for name, value in hparams.items():
                _checks.positive(value, f"hparams[{name!r}]")
                values[name] = jnp.asarray(value, jnp.float32)
        return values

    def init(self, key, hparams: Mapping[str, Any] | None = None) -> TrainState:
        """The state before the first step."""
        hparams = self._hparams(hparams)
        k_init, k_run = jax.random.split(key)
        params = self.model.init(k_init, self.task.input_size)
        if RECURRENT_SCALE in hparams:
            params = _scale_recurrent(params, hparams[RECURRENT_SCALE])
        opt_state = self.tx.init(params)
        opt_state = optim.set_hyperparams(opt_state, **{name: hparams[name] for name in INJECTED})
        return TrainState(params, opt_state, jnp.int32(0), k_run, jnp.int32(-1))

    def sample_batch(self, state: TrainState) -> Batch:
        """The training batch of step ``state.step``."""
        data_key = jax.random.fold_in(jax.random.fold_in(state.key, 0), state.step)
        if self.cfg.train_size is None:
            return self.task.sample(data_key, self.cfg.batch_size)
        indices = jax.random.randint(data_key, (self.cfg.batch_size,), 0, self.cfg.train_size)
        return self.task.training_sequences(indices)

    def loss(self, params, batch: Batch, key=None, probes=None) -> tuple[jax.Array, jax.Array]:
        """``(loss, outputs)``; dropout is active when ``key`` is given; ``probes`` (one
        ``[t, b, h]`` zeros array per layer) are added to the hidden states."""
        outputs = self.model.apply(params, batch.inputs, batch.lengths, key=key, train=key is not None, probes=probes)
        return self.task.loss(outputs, batch), outputs

    def gradients(self, params, batch: Batch, key) -> tuple[jax.Array, jax.Array, Any, dict[str, jax.Array]]:
        """``(loss, outputs, grads, extra metrics)``: the loss gradient, plus ``α ∇Ω``
        (Pascanu et al.'s regulariser, on the first layer's ``w_hh``) when ``cfg.omega``."""
        if not self.cfg.omega:
            (loss, outputs), grads = jax.value_and_grad(self.loss, has_aux=True)(params, batch, key)
            return loss, outputs, grads, {}
        t, b = batch.inputs.shape[1], batch.inputs.shape[0]
        probes = [jnp.zeros((t, b, h)) for h in self.model.layer_sizes]
        (loss, outputs), (grads, probe_grads) = jax.value_and_grad(self.loss, argnums=(0, 3), has_aux=True)(
            params, batch, key, probes)
        layer = params["layers"][0]["fwd"]
        value, w_grad = regularizers.omega(self.model.cell_fn, layer, batch, probe_grads[0])
        fwd = {**grads["layers"][0]["fwd"], "w_hh": grads["layers"][0]["fwd"]["w_hh"] + self.cfg.omega * w_grad}
        grads = {**grads, "layers": [{**grads["layers"][0], "fwd": fwd}, *grads["layers"][1:]]}
        return loss, outputs, grads, {"omega": value}

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        """One optimiser step on ``batch``.

        Returns:
            The new state and metrics: the task's metrics on the batch, ``grad_norm`` and
            ``clipped_grad_norm`` (global norms before and after clipping) and ``finite``.
        """
        dropout_key = jax.random.fold_in(jax.random.fold_in(state.key, 1), state.step)
        loss, outputs, grads, extra = self.gradients(state.params, batch, dropout_key)
        clip = state.opt_state.hyperparams[CLIP]
        clipped, _ = optim.clipping(self.cfg.optim.clipping, clip).update(grads, optax.EmptyState(), state.params)
        updates, opt_state = self.tx.update(clipped, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & _all_finite(params)
        healthy = state.diverged_at < 0
        apply = finite & healthy
        diverged_at = jnp.where(healthy & ~finite, state.step, state.diverged_at)
        new_state = TrainState(
            params=_where_tree(apply, params, state.params),
            opt_state=_where_tree(apply, opt_state, state.opt_state),
            step=state.step + 1,
            key=state.key,
            diverged_at=diverged_at,
        )
        metrics = dict(self.task.metrics(jax.lax.stop_gradient(outputs), batch))
        metrics.update(grad_norm=grad_norm, clipped_grad_norm=optax.tree.norm(clipped), finite=finite, **extra)
        return new_state, metrics

    def locate_nonfinite(self, state: TrainState) -> str | None:
        """Replays the step at which one (unbatched) member diverged under ``checkify``'s
        float checks and returns where the first NaN/Inf came from (primitive, file and
        line), or ``None`` if the member has not diverged or the replay stays finite.

        Exact because a diverged member is frozen at the state before that step and the
        step's batch and dropout keys are ``fold_in(key, step)``.
        """
        from jax.experimental import checkify

        at = int(state.diverged_at)
        if at < 0:
            return None
        replay = state._replace(step=jnp.int32(at), diverged_at=jnp.int32(-1))

        def step(state):
            new_state, _ = self.train_step(state, self.sample_batch(state))
            return new_state.params

        error, _ = jax.jit(checkify.checkify(step, errors=checkify.float_checks))(replay)
        message = error.get()
        if message is None:
            return f"step {at}: no operation produced a NaN or divided by zero; a value overflowed to Inf"
        try:
            error.throw()
        except checkify.JaxRuntimeError as raised:
            where = _source_line(raised.__cause__)
        return f"step {at}: {message.splitlines()[0].rstrip('.')}" + (f" at {where}" if where else "")

    def train_chunk(self, state: TrainState, num_steps: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """``num_steps`` steps as one ``lax.scan``; metrics are stacked ``[num_steps]``."""
        num_steps = _checks.positive_int(num_steps, "num_steps")

        def body(state, _):
            return self.train_step(state, self.sample_batch(state))

        return jax.lax.scan(body, state, None, length=num_steps)

    def evaluate(self, params) -> dict[str, jax.Array]:
        """The task's metrics on its fixed held-out set (no dropout)."""
        batch = self.task.eval_batch()
        outputs = self.model.apply(params, batch.inputs, batch.lengths)
        return self.task.metrics(outputs, batch)

    def __call__(self, key, hparams: Mapping[str, Any] | None = None) -> tuple[TrainState, History]:
        """A whole run: init, then evaluation intervals of ``eval_every`` steps."""
        state = self.init(key, hparams)
        every, steps = self.cfg.eval_every, self.cfg.steps
        evals = [jax.tree.map(lambda a: a[None], self.evaluate(state.params))]
        trains = []
        full = steps // every
        if full:

            def interval(state, _):
                state, metrics = self.train_chunk(state, every)
                return state, (metrics, self.evaluate(state.params))

            state, (train_m, eval_m) = jax.lax.scan(interval, state, None, length=full)
            trains.append(jax.tree.map(lambda a: a.reshape((full * every,) + a.shape[2:]), train_m))
            evals.append(eval_m)
        if steps % every:
            state, tail = self.train_chunk(state, steps % every)
            trains.append(tail)
            evals.append(jax.tree.map(lambda a: a[None], self.evaluate(state.params)))
        concat = lambda parts: jax.tree.map(lambda *a: jnp.concatenate(a), *parts)  # noqa: E731
        return state, History(train=concat(trains), eval=concat(evals))


def make_train(cfg: TrainConfig) -> Trainer:
    """The pure training functions for ``cfg``; ``make_train(cfg)(key, hparams)`` is a run."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    return Trainer(cfg)


def fit(
    model: SequenceModel,
    task: Task | str,
    cfg: TrainConfig | None = None,
    *,
    seed: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """Trains one model on one task: the notebook convenience over :func:`make_train`.

    Args:
        model: the model to train.
        task: a task (``tasks.get("adding", seq_len=50)``) or a registered task name.
        cfg: steps, batch size, optimiser...; its ``model``, ``task`` and ``task_options``
            are replaced.
        seed: the run's seed.

    Returns:
        ``(params, history)``: the final parameters and a dict of numpy arrays with
        ``"train"`` (per-step metrics), ``"eval"`` (held-out metrics), ``"eval_steps"``,
        ``"baseline_loss"`` and ``"diverged_at"``.
    """
    cfg = TrainConfig() if cfg is None else cfg
    cfg = dataclasses.replace(cfg, model=model, task=task, task_options=())
    trainer = make_train(cfg)
    state, history = jax.jit(trainer)(jax.random.key(_checks.nonneg_int(seed, "seed")))
    return state.params, {
        "train": {k: np.asarray(v) for k, v in history.train.items()},
        "eval": {k: np.asarray(v) for k, v in history.eval.items()},
        "eval_steps": cfg.eval_steps,
        "baseline_loss": trainer.task.baseline_loss,
        "diverged_at": int(state.diverged_at),
    }

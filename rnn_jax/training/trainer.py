"""The pure training functions of one run, so that many seeds are one ``vmap``.

    train = make_train(cfg)                                  # a Trainer
    state, history = jax.jit(train)(key, train.default_hparams())
    states, histories = jax.jit(jax.vmap(train))(keys, {"learning_rate": lrs, "max_norm": clips})

``hparams`` holds the swept values as arrays (:mod:`rnn_jax.training.hparams`); nothing swept
is a closed-over Python float. A run is a ``lax.scan`` over evaluation intervals, each
``eval_every`` training steps (:meth:`Trainer.train_chunk`, the function the runner compiles
too) and an evaluation on the task's fixed held-out set.

A step whose loss, gradient norm or updated parameters are not finite is not applied: the
run is frozen at its last finite state and ``state.diverged_at`` records the step (``-1``
while healthy), so one diverging seed never contaminates the others.

A ``Trainer`` is its run's identity: equal configurations (and the same registered cell and
task factories) give equal, equally hashed trainers, so JAX's own caches share the programs
compiled for them (:mod:`rnn_jax.training.programs`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rnn_jax import _checks, credit
from rnn_jax.cells.base import REGISTRY as CELLS
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import REGISTRY as TASKS
from rnn_jax.tasks.base import Task
from rnn_jax import optimizer
from rnn_jax.training import flossing, nonfinite, regularizers
from rnn_jax.training.config import TrainConfig
from rnn_jax.training.hparams import RECURRENT_SCALE
from rnn_jax.training.state import History, Hparams, TrainState
from rnn_jax.types import Batch


def _scale_recurrent(params, scale):
    """Multiplies every layer's ``w_hh`` by ``scale`` (a traced scalar)."""
    layers = [
        {direction: {**p, "w_hh": p["w_hh"] * scale} for direction, p in layer.items()} for layer in params["layers"]
    ]
    return {**params, "layers": layers}


def _with_first_layer(tree, fwd):
    """``tree`` (parameters or gradients) with the first layer's forward cell replaced by ``fwd``."""
    first = tree["layers"][0]
    return {**tree, "layers": [{**first, "fwd": fwd}, *tree["layers"][1:]]}


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _where_tree(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


_FIXED = 1.0
"""The value of every injected optimizer argument in a program's identity (:meth:`Trainer.for_programs`)."""


def _factories(cfg: TrainConfig) -> tuple[Callable | None, ...]:
    """The registered factories ``cfg`` names: a cell or task registered again under the same
    name (a notebook cell run twice) makes another identity."""
    task = TASKS.factory(cfg.task) if isinstance(cfg.task, str) else None
    cell = CELLS.factory(cfg.model.cell) if isinstance(cfg.model.cell, str) else None  # an object is itself
    return cell, task


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Pure training functions for one :class:`TrainConfig`. Calling it runs a whole run.

    Every method is a pure function of arrays (safe under ``jit`` and ``vmap``). Equal and
    equally hashed when the configs are equal and name the same registered factories.
    """

    cfg: TrainConfig
    factories: tuple[Callable | None, ...] = dataclasses.field(default=(), repr=False)

    def __post_init__(self):
        try:
            hash(self.cfg)
        except TypeError as error:
            raise TypeError(f"cfg must be hashable: it is the identity of the compiled programs ({error}); use "
                            "tuples rather than lists in cell_options and task_options, and frozen tasks") from None
        if not self.factories:
            object.__setattr__(self, "factories", _factories(self.cfg))

    def for_programs(self) -> Trainer:
        """The identity of the compiled programs: this trainer with the optimizer's injected
        arguments (:mod:`~rnn_jax.optimizer`: the learning rate, a clip threshold)
        and the run's length (``steps``, ``eval_every``) set to fixed values. The programs read
        the first from their ``hparams`` and the optimiser state and get their number of steps
        from the caller, never from the config, so runs that differ only in them (a re-fit
        with a new learning rate, a longer run) share every program."""
        fixed = {path: _FIXED for path in optimizer.hyperparameters(self.cfg.optimizer)}
        cfg = dataclasses.replace(self.cfg, optimizer=optimizer.with_values(self.cfg.optimizer, fixed), steps=1,
                                  eval_every=1)
        return self if cfg == self.cfg else Trainer(cfg, self.factories)

    def for_steps(self) -> Trainer:
        """:meth:`for_programs` without the cell options that only ``init`` reads: the
        identity of the programs that never initialise (training chunks, evaluation,
        diagnostics), so runs that differ only in their initialisation share them."""
        trainer = self.for_programs()
        def steps_only(options, cell):
            return tuple(kv for kv in options if kv[0] not in cell.init_options)

        model = dataclasses.replace(
            self.model, cell_options=steps_only(self.model.cell_options, self.model.cell_fn), head_init=None,
            layer_options=tuple(steps_only(o, c) for o, c in zip(self.model.layer_options, self.model.layer_cells)))
        if model == self.model:
            return trainer
        return Trainer(dataclasses.replace(trainer.cfg, model=model), self.factories)

    @functools.cached_property
    def tx(self) -> optax.GradientTransformation:
        """The run's optax transformation (its injected arguments are read from the state)."""
        return optimizer.build(self.cfg.optimizer)

    @property
    def model(self) -> SequenceModel:
        return self.cfg.model

    @property
    def task(self) -> Task:
        return self.cfg.task_fn

    def default_hparams(self) -> Hparams:
        """The optimizer's injected arguments by path, as float32 arrays (what a sweep replaces)."""
        return {path: jnp.float32(value) for path, value in optimizer.hyperparameters(self.cfg.optimizer).items()}

    def hparam_path(self, key: str) -> str:
        """Where the swept value ``key`` goes: ``"recurrent_scale"``, or the path of an injected
        optimizer argument (:func:`~rnn_jax.optimizer.address`). Refuses any other key."""
        if key != RECURRENT_SCALE:
            return optimizer.address(self.cfg.optimizer, key)
        cell = self.model.cell_fn
        names = jax.eval_shape(lambda k: cell.init(k, 1, 2), jax.random.key(0))
        if "w_hh" not in names:
            raise ValueError(f"{RECURRENT_SCALE!r} scales w_hh, and the {cell.name!r} cell stores none "
                             f"(its parameters: {', '.join(sorted(names))})")
        return key

    def _hparams(self, hparams: Mapping[str, Any] | None) -> Hparams:
        values = self.default_hparams()
        for key, value in (hparams or {}).items():
            _checks.number(value, f"hparams[{key!r}]")
            values[self.hparam_path(key)] = jnp.asarray(value, jnp.float32)
        return values

    def init(self, key, hparams: Mapping[str, Any] | None = None) -> TrainState:
        """The state before the first step."""
        hparams = self._hparams(hparams)
        k_init, k_run = jax.random.split(key)
        params = self.model.init(k_init, self.task.input_size)
        if RECURRENT_SCALE in hparams:
            params = _scale_recurrent(params, hparams[RECURRENT_SCALE])
        fl = self.cfg.gradient.flossing
        if fl is not None and fl.before:
            params = self._floss(params, jax.random.fold_in(k_init, 1), fl.before)
        opt_state = optimizer.build(self.cfg.optimizer, hparams).init(params)
        return TrainState(params, opt_state, jnp.int32(0), k_run, jnp.int32(-1))

    def _floss(self, params, key, steps):
        """``params`` after ``steps`` (an int, or a traced one) flossing steps on the first layer's forward cell, step
        ``i`` on the first ``length`` steps of the task's sequence ``fold_in(key, i)``."""
        fl = self.cfg.gradient.flossing
        sequences = lambda i: self.task.sample(jax.random.fold_in(key, i), 1).inputs[:, :fl.length]  # noqa: E731
        flossed, _ = flossing.floss(self.model.cell_fn, params["layers"][0]["fwd"], sequences, fl, steps)
        return _with_first_layer(params, flossed)

    def sample_batch(self, state: TrainState) -> Batch:
        """The training batch of step ``state.step`` (:func:`sample_batch`)."""
        return sample_batch(self.task, self.cfg.batch_size, self.cfg.train_size, state.key, state.step)

    def loss(self, params, batch: Batch, key=None, probes=None) -> tuple[jax.Array, jax.Array]:
        """``(loss, outputs)``; dropout is active when ``key`` is given; ``probes`` (one
        ``[t, b, h]`` zeros array per layer) are added to the hidden states. The gradient
        through the carries stops every ``cfg.gradient.truncation`` steps."""
        outputs = self.model.apply(params, batch.inputs, batch.lengths, key=key, train=key is not None, probes=probes,
                                   truncation=self.cfg.gradient.truncation)
        return self.task.loss(outputs, batch), outputs

    def gradients(self, params, batch: Batch, key) -> tuple[jax.Array, jax.Array, Any, dict[str, jax.Array]]:
        """``(loss, outputs, grads, extra metrics)``: the loss gradient by ``cfg.gradient.rule``
        (:mod:`rnn_jax.credit`), plus ``α ∇Ω`` (Pascanu et al.'s regulariser, on the first
        layer's ``w_hh``) when ``cfg.gradient.omega``."""
        gradient = self.cfg.gradient
        if gradient.rule.forward:
            loss, outputs, grads, _ = credit.forward.gradients(gradient.rule, self.model, params, batch,
                                                       lambda outputs: self.task.loss(outputs, batch), key=key)
            return loss, outputs, grads, {}
        if not gradient.omega:
            (loss, outputs), grads = jax.value_and_grad(self.loss, has_aux=True)(params, batch, key)
            return loss, outputs, grads, {}
        t, b = batch.inputs.shape[1], batch.inputs.shape[0]
        probes = [jnp.zeros((t, b, h)) for h in self.model.layer_sizes]
        (loss, outputs), (grads, probe_grads) = jax.value_and_grad(self.loss, argnums=(0, 3), has_aux=True)(
            params, batch, key, probes)
        layer = params["layers"][0]["fwd"]
        value, w_grad = regularizers.omega(self.model.cell_fn, layer, batch, probe_grads[0])
        fwd = grads["layers"][0]["fwd"]
        grads = _with_first_layer(grads, {**fwd, "w_hh": fwd["w_hh"] + gradient.omega * w_grad})
        return loss, outputs, grads, {"omega": value}

    def update(self, state: TrainState, current, loss, grads) -> tuple[TrainState, dict[str, jax.Array]]:
        """One optimiser update of ``current`` (``state.params``, or them after flossing) by
        ``grads``; skipped, and ``diverged_at`` set to ``state.step``, when the loss, the
        gradients or the new parameters are not finite. ``step`` is left as it is.
        Returns the state and ``grad_norm``, ``update_norm`` and ``finite``."""
        updates, opt_state = self.tx.update(grads, state.opt_state, current)
        params = self.model.constrain(optax.apply_updates(current, updates))
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & _all_finite(params)
        healthy = state.diverged_at < 0
        apply = finite & healthy
        new_state = state._replace(params=_where_tree(apply, params, state.params),
                                   opt_state=_where_tree(apply, opt_state, state.opt_state),
                                   diverged_at=jnp.where(healthy & ~finite, state.step, state.diverged_at))
        return new_state, {"grad_norm": grad_norm, "update_norm": optax.tree.norm(updates), "finite": finite}

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        """One optimiser step on ``batch`` (with ``cfg.gradient.stateful``, one per window: :meth:`stream_step`).

        Returns:
            The new state and metrics: the task's metrics on the batch, ``grad_norm`` (the
            gradient's global norm), ``update_norm`` (that of the optimizer's update, after
            clipping and the learning rate) and ``finite``.
        """
        if self.cfg.gradient.stateful:
            return self.stream_step(state, batch)
        dropout_key = jax.random.fold_in(jax.random.fold_in(state.key, 1), state.step)
        current = state.params
        fl = self.cfg.gradient.flossing
        if fl is not None and fl.episodes:  # an episode of flossing before this step (their "interflossing")
            # a traced number of steps (0 off the episodes): a while loop that, vmapped over members
            # at the same step, runs no iteration at all between episodes (a cond would run both branches)
            episode_key = jax.random.fold_in(jax.random.fold_in(state.key, 2), state.step)
            steps = jnp.where(fl.episode_before(state.step), fl.episode_steps, 0)
            current = self._floss(current, episode_key, steps)
        loss, outputs, grads, extra = self.gradients(current, batch, dropout_key)
        new_state, stats = self.update(state, current, loss, grads)
        metrics = dict(self.task.metrics(jax.lax.stop_gradient(outputs), batch))
        metrics.update(**stats, **extra)
        return new_state._replace(step=state.step + 1), metrics

    def stream_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        """``cfg.gradient.stateful``: ``batch``'s sequences as streams cut into windows of
        ``cfg.gradient.truncation`` steps, one update per window (of that window's loss,
        :meth:`~rnn_jax.tasks.Task.window_loss`), the carries and a forward rule's influence
        trace passed from window to window. The metrics are those of the whole sequences'
        outputs, with the norms averaged over the windows."""
        k, rule = self.cfg.gradient.truncation, self.cfg.gradient.rule
        batch_size, seq_len = batch.inputs.shape[:2]
        windows = seq_len // k
        cut = lambda a: jnp.moveaxis(a.reshape((batch_size, windows, k) + a.shape[2:]), 1, 0)  # noqa: E731
        mask = self.task.step_mask(batch)
        masks = None if mask is None else cut(mask)
        key = jax.random.fold_in(jax.random.fold_in(state.key, 1), state.step)
        if rule.forward:
            stream = credit.forward.start(rule, self.model, state.params, batch_size, self.task.input_size)
        else:
            stream = [[self.model.cell_fn.initial_carry(layer["fwd"], (batch_size,))] for layer in state.params["layers"]]

        def window(carry, inputs):
            state, stream = carry
            index, xs, targets, mask = inputs
            loss_of = lambda outputs: self.task.window_loss(outputs, targets, mask)  # noqa: E731
            window_key = jax.random.fold_in(key, index)
            if rule.forward:
                loss, outputs, grads, stream = credit.forward.gradients(rule, self.model, state.params, Batch(xs, targets, None),
                                                                loss_of, key=window_key, stream=stream)
            else:
                def run(params):
                    outputs, carries = self.model.run(params, xs, carries=stream, key=window_key, train=True)
                    return loss_of(outputs), (outputs, carries)

                (loss, (outputs, stream)), grads = jax.value_and_grad(run, has_aux=True)(state.params)
                stream = jax.lax.stop_gradient(stream)
            state, stats = self.update(state, state.params, loss, grads)
            return (state, stream), (outputs, stats)

        (new_state, _), (outputs, stats) = jax.lax.scan(
            window, (state, stream), (jnp.arange(windows), cut(batch.inputs), cut(batch.targets), masks))
        outputs = jnp.moveaxis(outputs, 0, 1).reshape((batch_size, seq_len) + outputs.shape[3:])
        metrics = dict(self.task.metrics(jax.lax.stop_gradient(outputs), batch))
        metrics.update(grad_norm=jnp.mean(stats["grad_norm"]), update_norm=jnp.mean(stats["update_norm"]),
                       finite=jnp.all(stats["finite"]))
        return new_state._replace(step=state.step + 1), metrics

    def locate_nonfinite(self, state: TrainState) -> str | None:
        """Where one diverged (unbatched) member's first NaN came from
        (:func:`rnn_jax.training.nonfinite.locate_nonfinite`)."""
        return nonfinite.locate_nonfinite(self, state)

    def train_chunk(self, state: TrainState, num_steps: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """``num_steps`` steps as one ``lax.scan``; metrics are stacked ``[num_steps]``."""
        num_steps = _checks.positive_int(num_steps, "num_steps")

        def body(state, _):
            return self.train_step(state, self.sample_batch(state))

        return jax.lax.scan(body, state, None, length=num_steps)

    def train_on(self, state: TrainState, batches: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        """One step per batch of ``batches`` (stacked on a leading axis, as
        :class:`~rnn_jax.training.programs.SampleBatches` draws them) as one ``lax.scan``:
        equal, bit for bit, to :meth:`train_chunk` over as many steps."""
        return jax.lax.scan(self.train_step, state, batches)

    def evaluate(self, params, batch: Batch | None = None) -> dict[str, jax.Array]:
        """The task's metrics on ``batch`` (default: its fixed held-out set ``task.eval_batch()``),
        without dropout."""
        batch = self.task.eval_batch() if batch is None else batch
        outputs = self.model.apply(params, batch.inputs, batch.lengths)
        return self.task.metrics(outputs, batch)

    def interval(self, state: TrainState, _=None) -> tuple[TrainState, tuple[dict, dict]]:
        """``eval_every`` training steps, then an evaluation: ``(state, (train, eval))``."""
        state, metrics = self.train_chunk(state, self.cfg.eval_every)
        return state, (metrics, self.evaluate(state.params))

    def __call__(self, key, hparams: Mapping[str, Any] | None = None) -> tuple[TrainState, History]:
        """A whole run: init, then evaluation intervals of ``eval_every`` steps."""
        state = self.init(key, hparams)
        every, steps = self.cfg.eval_every, self.cfg.steps
        evals = [jax.tree.map(lambda a: a[None], self.evaluate(state.params))]
        trains = []
        full = steps // every
        if full:
            state, (train_m, eval_m) = jax.lax.scan(self.interval, state, None, length=full)
            trains.append(jax.tree.map(lambda a: a.reshape((full * every,) + a.shape[2:]), train_m))
            evals.append(eval_m)
        if steps % every:
            state, tail = self.train_chunk(state, steps % every)
            trains.append(tail)
            evals.append(jax.tree.map(lambda a: a[None], self.evaluate(state.params)))
        concat = lambda parts: jax.tree.map(lambda *a: jnp.concatenate(a), *parts)  # noqa: E731
        return state, History(train=concat(trains), eval=concat(evals))


def sample_batch(task: Task, batch_size: int, train_size: int | None, key, step) -> Batch:
    """The training batch of step ``step`` of the run whose state holds ``key``: fresh
    sequences from ``fold_in(fold_in(key, 0), step)``, or with ``train_size`` that many
    sequences of the task's fixed training set, picked with that key. A function of the task
    and the batch alone, so runs of any model share the program that samples it
    (:class:`~rnn_jax.training.programs.SampleBatches`)."""
    data_key = jax.random.fold_in(jax.random.fold_in(key, 0), step)
    if train_size is None:
        return task.sample(data_key, batch_size)
    indices = jax.random.randint(data_key, (batch_size,), 0, train_size)
    return task.training_sequences(indices)


def make_train(cfg: TrainConfig) -> Trainer:
    """The pure training functions for ``cfg``; ``make_train(cfg)(key, hparams)`` is a run."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    return Trainer(cfg)

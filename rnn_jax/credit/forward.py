"""The forward-mode rules on a :class:`~rnn_jax.model.SequenceModel`: one driver for all.

For a one-layer, unidirectional model the gradient of a loss ``L(y_1, ..., y_T)`` is

    dL/dθ = Σ_t  c_t · ∂s_t/∂θ  +  ∂L/∂y_t · ∂y_t/∂θ|_s ,      c_t = ∂L/∂y_t · ∂y_t/∂s_t ,

where ``∂s_t/∂θ``, the influence, is what a rule carries forwards (:class:`Estimator`). The
driver runs the layer once to get every ``y_t``, differentiates the loss with respect to them
(the head's gradient comes from the same pass), then runs the rule's scan over the steps,
``vmap``-ed over sequences. In a stream (``stateful=True``) the carry and the trace pass from
window to window (:class:`Stream`), and the parameters change between windows, as online
learning does; within one sequence and unchanged parameters, RTRL gives BPTT's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.cells.carry_vector import CarryVector
from rnn_jax.credit import diagonal, rtrl, uoro
from rnn_jax.credit.estimator import Estimator
from rnn_jax.credit.flat_step import FlatStep
from rnn_jax.credit.rules import Rule
from rnn_jax.credit.structure import patterns
from rnn_jax.model import SequenceModel
from rnn_jax.types import Batch
from rnn_jax.unroll import step_mask, unroll

MAX_INFLUENCE_BYTES = 1 << 30
"""The largest influence matrices (all sequences of a batch) ``rtrl`` and ``snap`` accept: 1 GiB.
Each step forms the immediate Jacobian of the same size beside them, so the peak is about twice."""


class Stream(NamedTuple):
    """What passes from one window of a stream to the next: the layer's carry and the rule's
    trace, both per sequence."""

    carry: Any
    trace: Any


def check_model(rule: Rule, model: SequenceModel, name: str = "rule") -> None:
    """A one-line ``ValueError`` unless the forward-mode ``rule`` can run on ``model``'s layout:
    one unidirectional layer, no dropout."""
    said = f"{name}={rule.value!r}"
    if model.num_layers != 1 or model.bidirectional:
        raise ValueError(f"{said} carries the influence of one recurrent layer forwards; the model has "
                         f"{model.num_layers} layer(s){', bidirectional' if model.bidirectional else ''}: "
                         f"use one unidirectional layer, or rule='bptt'")
    if model.dropout or model.output_dropout:
        raise ValueError(f"{said} does not apply dropout; the model has dropout={model.dropout}, "
                         f"output_dropout={model.output_dropout}")


def _layer(model: SequenceModel, params) -> tuple[Any, Any]:
    layer = params["layers"][0]["fwd"]
    prepared, pull_back = jax.vjp(model.cell_fn.hooks.prepare, layer)
    return prepared, pull_back


def make_estimator(rule: Rule, model: SequenceModel, prepared, input_size: int) -> tuple[Estimator, FlatStep, jax.Array]:
    """The rule's :class:`Estimator` for the model's layer, its step and flat ``θ``."""
    cell = model.cell_fn
    step, theta = FlatStep.of(cell, prepared)
    match rule:
        case Rule.RTRL:
            return rtrl.estimator(step, theta), step, theta
        case Rule.SNAP1 | Rule.SNAP2:
            mask = patterns(cell, prepared, input_size).snap(rule.snap_level)
            return rtrl.estimator(step, theta, mask), step, theta
        case Rule.UORO:
            return uoro.estimator(step, theta), step, theta
        case Rule.DIAGONAL:
            return diagonal.estimator(step, theta, patterns(cell, prepared, input_size)), step, theta
    raise ValueError(f"rule={rule.value!r} is not a forward-mode rule")


def start(rule: Rule, model: SequenceModel, params, batch_size: int, input_size: int) -> Stream:
    """The :class:`Stream` before a stream's first window: zero carry, zero influence."""
    prepared, _ = _layer(model, params)
    estimator, _, _ = make_estimator(rule, model, prepared, input_size)
    return _start(estimator, model, prepared, batch_size)


def _start(estimator: Estimator, model: SequenceModel, prepared, batch_size: int) -> Stream:
    trace = jax.vmap(lambda _: estimator.init())(jnp.arange(batch_size))
    return Stream(model.cell_fn.initial_carry(prepared, (batch_size,)), trace)


def prepared_shapes(model: SequenceModel, input_size: int):
    """The shapes of the layer's parameters after ``hooks.prepare`` (computing nothing)."""
    cell = model.cell_fn
    return jax.eval_shape(lambda k: cell.hooks.prepare(cell.init(k, input_size, model.layer_sizes[0])),
                          jax.random.key(0))


def gradients(rule: Rule, model: SequenceModel, params, batch: Batch, loss: Callable[[jax.Array], jax.Array], *,
              key, stream: Stream | None = None) -> tuple[jax.Array, jax.Array, Any, Stream]:
    """``(loss, outputs, grads, stream)`` of ``loss(outputs)`` by ``rule``.

    Args:
        rule: a forward-mode :class:`Rule`.
        model: one unidirectional layer, without dropout.
        params: its parameters.
        batch: inputs ``[b, t, i]`` and lengths.
        loss: ``outputs -> scalar``, the loss of the model's outputs.
        key: draws of ``uoro`` (``fold_in(key, t)`` at step ``t``, split over sequences).
        stream: where the previous window left off (default: the start of a sequence).

    Returns:
        The loss, the outputs, the gradients (the structure of ``params``) and the
        :class:`Stream` after the last step.
    """
    rule = _checks.choice(Rule, rule, "rule")
    if not rule.forward:
        raise ValueError("rule='bptt' runs backwards: use jax.grad of the loss (credit.alignment compares the two)")
    check_model(rule, model, "rule")
    _checks.float_array(batch.inputs, "batch.inputs", ndim_min=3)
    cell = model.cell_fn
    batch_size, seq_len, input_size = batch.inputs.shape
    prepared, pull_back = _layer(model, params)
    estimator, step, theta = make_estimator(rule, model, prepared, input_size)
    stream = _start(estimator, model, prepared, batch_size) if stream is None else stream
    xs = jnp.moveaxis(batch.inputs, 1, 0)
    _, hs = unroll(cell, params["layers"][0]["fwd"], xs, lengths=batch.lengths, initial_carry=stream.carry,
                   time_major=True)
    rest = {name: value for name, value in params.items() if name != "layers"}

    def loss_of(hs, rest):
        outputs = model.head(rest, hs, batch.lengths)
        return loss(outputs), outputs

    (value, outputs), (credit, rest_grads) = jax.value_and_grad(loss_of, argnums=(0, 1), has_aux=True)(
        jax.lax.stop_gradient(hs), rest)
    valid = jnp.ones((seq_len, batch_size), bool) if batch.lengths is None else step_mask(batch.lengths, seq_len).T
    keys = jax.vmap(lambda t: jax.random.split(jax.random.fold_in(key, t), batch_size))(jnp.arange(seq_len))

    def sequence(s, trace, xs, credit, valid, keys):
        def body(carry, inputs):
            s, trace, grad = carry
            x, c, ok, k = inputs
            s_new, trace_new = estimator.update(theta, s, x, trace, k)
            _, pull = jax.vjp(lambda th, s_: step.output(th, s_, x), theta, s_new)
            direct, c_s = pull(c)
            grad = grad + estimator.credit(trace_new, c_s) + direct
            keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
            return (keep(s_new, s), jax.tree.map(keep, trace_new, trace), grad), None

        (s, trace, grad), _ = jax.lax.scan(body, (s, trace, jnp.zeros_like(theta)), (xs, credit, valid, keys))
        return s, trace, grad

    states = step.vector.flatten(stream.carry)
    s, trace, grad = jax.vmap(sequence, in_axes=(0, 0, 1, 1, 1, 1))(states, stream.trace, xs, credit, valid, keys)
    (layer_grads,) = pull_back(step.unravel(jnp.sum(grad, axis=0)))
    grads = {**rest_grads, "layers": [{"fwd": layer_grads}]}
    return value, outputs, grads, Stream(step.vector.unflatten(s), trace)


def influence_bytes(rule: Rule, model: SequenceModel, batch_size: int, input_size: int) -> int:
    """The bytes of the influence traces of a batch under ``rule`` (computed from shapes)."""
    shapes = prepared_shapes(model, input_size)
    params = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
    state = CarryVector.state_size(model.cell_fn, shapes)
    per_sequence = state * params if rule.dense else state + params
    return 4 * batch_size * per_sequence

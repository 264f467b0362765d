"""Which models a rule can train, refused before anything is traced."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax.credit import diagonal, forward
from rnn_jax.credit.rules import Rule
from rnn_jax.credit.structure import patterns
from rnn_jax.model import SequenceModel
from rnn_jax.types import Batch


def check_batch(rule: Rule | str, model: SequenceModel, batch: Batch, params) -> Rule:
    """:func:`check` at the size, input size and dtypes of ``batch`` and ``params``, for a
    direct call (whose argument is ``rule``)."""
    _checks.float_array(batch.inputs, "batch.inputs", ndim_min=3)
    return check(rule, model, batch_size=batch.inputs.shape[0], input_size=batch.inputs.shape[-1], argument="rule",
                 params=params, dtype=batch.inputs.dtype)


def gradients(rule: Rule | str, model: SequenceModel, params, batch: Batch, loss, *, key,
              stream: forward.Stream | None = None):
    """:func:`rnn_jax.credit.forward.gradients`, after the checks a training config makes
    (:func:`check`): a rule the cell cannot use, or influence matrices past
    :data:`~rnn_jax.credit.forward.MAX_INFLUENCE_BYTES`, are refused in one line before
    anything is traced."""
    rule = check_batch(rule, model, batch, params)
    return forward.gradients(rule, model, params, batch, loss, key=key, stream=stream)


def check(rule: Rule | str, model: SequenceModel, *, batch_size: int, input_size: int,
          argument: str = "rule", params=None, dtype=jnp.float32) -> Rule:
    """``rule`` as a :class:`Rule`, or a one-line ``ValueError`` saying why it cannot train
    ``model`` at ``batch_size``; the messages call it ``argument``. The probe of the step's
    forward-mode derivatives runs on ``params`` (default: ``model.init``'s) and inputs of
    ``dtype``."""
    rule = _checks.choice(Rule, rule, argument)
    if not rule.forward:
        return rule
    forward.check_model(rule, model, argument)
    name = f"{argument}={rule.value!r}"
    cell = model.cell_fn
    if cell.hooks.forward_map is not None:  # a step with its own backward pass (indrnn's grad_clip)
        plain = dict(cell.hooks.forward_map().options)
        made = ", ".join(f"{k}={v!r}" for k, v in cell.options if plain.get(k) != v)
        raise ValueError(f"{name} carries credit forwards; {cell.name!r} was made with {made}, which changes the "
                         "backward pass of BPTT at every step: use rule='bptt', or the cell without it")
    if rule.dense:
        size = forward.influence_bytes(rule, model, batch_size, input_size)
        if size > forward.MAX_INFLUENCE_BYTES:
            raise ValueError(f"{name} keeps a [state, parameters] influence matrix per sequence: "
                             f"{size / 2**30:.1f} GiB for a batch of {batch_size} ({cell.name!r}, hidden "
                             f"{model.layer_sizes[0]}), above the {forward.MAX_INFLUENCE_BYTES / 2**30:.0f} GiB "
                             f"limit: use a smaller network or batch, rule='uoro' or 'diagonal'")
    if rule is Rule.DIAGONAL:
        layout = diagonal.layout(patterns(cell, forward.prepared_shapes(model, input_size), input_size))
        if isinstance(layout, str):
            raise ValueError(f"{name} is exact for diagonal recurrences (lru, indrnn, mingru, minlstm); "
                             f"{cell.name!r} cannot use it: {layout}. Use rule='rtrl', 'snap1', 'snap2' or 'uoro'")
    if params is None:
        params = jax.eval_shape(lambda k: model.init(k, input_size), jax.random.key(0))
    inputs = jax.ShapeDtypeStruct((1, 2, input_size), dtype)
    try:
        jax.eval_shape(lambda p, x: forward.gradients(rule, model, p, Batch(x, None, None), jnp.sum,
                                                      key=jax.random.key(0))[0], params, inputs)
    except (TypeError, NotImplementedError) as error:
        reason = str(error).strip().splitlines()[0]
        raise ValueError(f"{name} needs forward-mode derivatives (jax.jvp) of the {cell.name!r} step, which it "
                         f"does not provide ({reason}): use rule='bptt'") from None
    return rule

"""A rule's gradient against BPTT's: how much of the true credit it delivers.

For a batch and the parameters at hand, :func:`alignment` compares the recurrent layer's
gradient under a rule with full BPTT's (the head's gradient is the same under every rule and
is left out): the cosine of each draw with BPTT's, averaged over draws, and the draws'
variance relative to BPTT's squared norm (0 for the deterministic rules). Swept over the lag
of a task's dependency (``experiments.credit_assignment``), it shows how far back each rule's
credit reaches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rnn_jax import _checks
from rnn_jax.credit import forward, support
from rnn_jax.credit.rules import Rule
from rnn_jax.model import SequenceModel
from rnn_jax.types import Batch


class Alignment(NamedTuple):
    """A rule against BPTT on one batch (scalars).

    Attributes:
        cosine: the mean over draws of cos(g_rule, g_bptt).
        variance: ``E‖g_rule − E g_rule‖² / ‖g_bptt‖²`` over the draws.
        norm_ratio: ``‖E g_rule‖ / ‖g_bptt‖``.
    """

    cosine: jax.Array
    variance: jax.Array
    norm_ratio: jax.Array


def layer_gradient(rule: Rule, model: SequenceModel, params, batch: Batch, loss: Callable[[jax.Array], jax.Array],
                   key, truncation: int | None = None) -> jax.Array:
    """The first layer's gradient under ``rule`` (``bptt`` truncated with ``truncation``), raveled."""
    if rule.forward:
        grads = forward.gradients(rule, model, params, batch, loss, key=key)[2]
    else:
        grads = jax.grad(lambda p: loss(model.apply(p, batch.inputs, batch.lengths, truncation=truncation)))(params)
    return ravel_pytree(grads["layers"][0])[0]


def alignment(rule: Rule | str, model: SequenceModel, params, batch: Batch, loss: Callable[[jax.Array], jax.Array],
              *, key, draws: int = 1, truncation: int | None = None) -> Alignment:
    """``rule`` (or BPTT truncated at ``truncation``) against full BPTT on ``batch``.

    Args:
        rule: a :class:`Rule` name.
        model: the model.
        params: its parameters.
        batch: the sequences.
        loss: ``outputs -> scalar``.
        key: for the draws (``uoro``).
        draws: gradients drawn (``fold_in(key, i)``); more than 1 only matters for ``uoro``.
        truncation: with ``rule="bptt"``: truncated BPTT's ``k``.
    """
    rule = support.check_batch(rule, model, batch, params)
    draws = _checks.positive_int(draws, "draws")
    if truncation is not None and rule.forward:
        raise ValueError(f"truncation={truncation} is an option of rule='bptt', not {rule.value!r}")
    exact = layer_gradient(Rule.BPTT, model, params, batch, loss, key)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(draws))
    drawn = jax.lax.map(lambda k: layer_gradient(rule, model, params, batch, loss, k, truncation), keys)
    norm = jnp.linalg.norm(exact)
    tiny = jnp.finfo(exact.dtype).tiny
    cosine = jnp.mean(drawn @ exact / jnp.maximum(jnp.linalg.norm(drawn, axis=1) * norm, tiny))
    mean = jnp.mean(drawn, axis=0, keepdims=True)
    variance = jnp.mean(jnp.sum((drawn - mean) ** 2, axis=1)) / jnp.maximum(norm**2, tiny)
    return Alignment(cosine, variance, jnp.linalg.norm(mean[0]) / jnp.maximum(norm, tiny))

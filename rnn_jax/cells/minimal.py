"""minGRU and minLSTM: gated recurrences whose gates read only the input, so they are linear
in the state and train in parallel over time.

minGRU (gate blocks ``z, h̃`` of ``w_ih``)::

    z = σ(k_z)    h' = (1 - z) ⊙ h + z ⊙ v(k_h)

minLSTM (blocks ``f, i, h̃``), with the gates normalised to sum to one::

    f' = σ(k_f) / (σ(k_f) + σ(k_i)) = σ(-d)    i' = σ(d)    d = softplus(-k_f) - softplus(-k_i)
    h' = f' ⊙ h + i' ⊙ v(k_h)

with ``k = W_ih x + b_ih`` (PyTorch ``nn.Linear`` layout and default initialisation,
U(±1/sqrt(i))). ``v`` is the identity (``log_space=False``) or, in the paper's log-space
formulation (``log_space=True``, the default), ``g(x) = x + 0.5`` for ``x ≥ 0`` and ``σ(x)``
below, which keeps the candidate state positive. Then every coefficient is positive and
the parallel mode of :func:`rnn_jax.unroll` combines them in log space
(``log a = -softplus(k_z)``, ``log b = -softplus(-k_z) + log g(k_h)`` for minGRU), which
cannot overflow or underflow where a product of many gates would.

Neither cell has a recurrent matrix (``hooks.recurrent_matrix`` is ``None``): the spectra
diagnostics skip them, and their ‖∂L/∂h_t‖ curves show how their input-dependent decay
``a_t`` carries gradients.

References:
    Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs all we needed?" (Sec. 3 and
    Appendix B's log-space code).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.cells import base


def g(x: jax.Array) -> jax.Array:
    """``x + 0.5`` for ``x ≥ 0``, ``σ(x)`` below: positive and continuous."""
    return jnp.where(x >= 0, x + 0.5, jax.nn.sigmoid(x))


def log_g(x: jax.Array) -> jax.Array:
    """``log g(x)``, finite with finite gradients everywhere."""
    return jnp.where(x >= 0, jnp.log(jax.nn.relu(x) + 0.5), -jax.nn.softplus(-x))


def _minimal_cell(name: str, gates: int, log_space: bool, update_logit, candidate_logit) -> base.Cell:
    """A cell ``h' = a ⊙ h + b`` with ``log a = -softplus(update_logit)``,
    ``log b = -softplus(-update_logit) + log v(candidate_logit)``, both read from ``x_proj``.

    ``update_logit(x_proj)`` is the logit of the share ``1 - a`` given to the candidate
    (minGRU: ``k_z``; minLSTM: ``d``), so ``a = σ(-update_logit)`` and ``b = σ(update_logit) v``.
    """
    if not isinstance(log_space, bool):
        raise TypeError(f"log_space={log_space!r} must be a bool")
    candidate = g if log_space else (lambda x: x)

    def coefficients(params, x_proj):
        d = update_logit(x_proj)
        return jax.nn.sigmoid(-d), jax.nn.sigmoid(d) * candidate(candidate_logit(x_proj))

    def log_coefficients(params, x_proj):
        d = update_logit(x_proj)
        return -jax.nn.softplus(d), -jax.nn.softplus(-d) + log_g(candidate_logit(x_proj))

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size)
        bound = 1.0 / math.sqrt(input_size)  # torch.nn.Linear's default
        k_w, k_b = jax.random.split(key)
        return {
            "w_ih": draw(jax.random.uniform, k_w, (gates * hidden_size, input_size), minval=-bound, maxval=bound, dtype=jnp.float32),
            "b_ih": jax.random.uniform(k_b, (gates * hidden_size,), jnp.float32, -bound, bound),
        }

    def hidden_width(params):
        return params["w_ih"].shape[-2] // gates

    linear = base.LinearRecurrence(coefficients, log_coefficients if log_space else None)
    return base.Cell(
        name=name,
        init=init,
        initial_carry=lambda params, batch_shape: jnp.zeros((*batch_shape, hidden_width(params)), params["w_ih"].dtype),
        project_inputs=base.project_all_biases,  # xs @ w_ih.T + b_ih
        step=linear.as_step(),
        options=(("log_space", log_space),),
        linear_recurrence=linear,
        hooks=base.Hooks(recurrent_matrix=None),
    )


def _blocks(x_proj, count):
    return jnp.split(x_proj, count, axis=-1)


def mingru(*, log_space: bool = True) -> base.Cell:
    """A minGRU cell (Feng et al. 2024).

    Args:
        log_space: the paper's log-space formulation (positive candidate ``g``, parallel scan
            in log space); ``False``: the plain one (candidate ``k_h``).

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    return _minimal_cell("mingru", 2, log_space, lambda x: _blocks(x, 2)[0], lambda x: _blocks(x, 2)[1])


def _minlstm_share(x_proj):
    k_f, k_i, _ = _blocks(x_proj, 3)
    return jax.nn.softplus(-k_f) - jax.nn.softplus(-k_i)


def minlstm(*, log_space: bool = True) -> base.Cell:
    """A minLSTM cell (Feng et al. 2024), with the normalised gates ``f' + i' = 1``.

    Args:
        log_space: as for :func:`mingru`.

    Returns:
        A :class:`~rnn_jax.cells.base.Cell`; its carry is ``h[*b, h]``.
    """
    return _minimal_cell("minlstm", 3, log_space, _minlstm_share, lambda x: _blocks(x, 3)[2])

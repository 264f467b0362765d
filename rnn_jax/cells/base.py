"""The ``Cell`` contract and the cell registry.

A cell is a NamedTuple of pure functions on arrays with any leading batch dimensions::

    params = cell.init(key, input_size, hidden_size)        # dict of arrays
    carry = cell.initial_carry(params, batch_shape)         # zeros
    xs_proj = cell.project_inputs(params, xs)               # [..., G*h], hoisted over time
    carry, h = cell.step(params, carry, xs_proj[t])         # the recurrence only
    h = cell.hidden(carry)                                  # what the next layer sees
    carry = cell.replace_hidden(carry, h)                   # used by unroll's probe

Optional parts (defaults in brackets) for the cells beyond the classic three::

    params = cell.prepare(params)            # once per unroll, before the loop [identity]
    w = cell.recurrent_matrix(params)        # [G*n, n] for the spectra, or None [w_hh]
    y = cell.readout(params, carry, x_proj_t)  # the step's output when it is not the
                                             # carry's hidden part [None: y = hidden(carry)]
    cell.linear                              # a LinearRecurrence: unroll's parallel mode
    cell.split                               # a SplitStep: the step cut at its recurrent
                                             # matmul, for unroll's one-matmul weight gradients

Unrolled by hand (what :func:`rnn_jax.unroll` does, with masks, reverse and probes)::

    def body(carry, x_t):
        return cell.step(params, carry, x_t)
    final, hs = jax.lax.scan(body, carry, cell.project_inputs(params, xs_time_major))

``replace_hidden`` is an addition to the contract in DESIGN.md: the ``probe`` of ``unroll``
must enter the carry (not only the output) so that ``grad(loss, probe)[t]`` is the total
derivative dL/dh_t through every later step. ``prepare`` lets a cell derive its recurrent
matrix from its parameters once per sequence (``exprnn``: ``expm(A - Aᵀ)``) instead of once
per step; ``readout`` lets a cell's output differ from its state (``lru``: ``Re(C h) + D x``),
and is recomputed after the probe enters the state so that the probe still means dL/dh_t.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax import initializers
from rnn_jax.registry import Registry
from rnn_jax.types import Carry, Params


class Cell(NamedTuple):
    """A recurrent cell as pure functions. See the module docstring for the contract.

    Attributes:
        name: registry name (``"lstm"``...).
        num_gates: ``G``, the number of ``[h, h]`` blocks stacked in ``w_hh``.
        init: ``(key, input_size, hidden_size, **options) -> params``.
        initial_carry: ``(params, batch_shape) -> carry`` of zeros in the params' dtype.
        project_inputs: ``(params, xs[..., i]) -> xs_proj[..., G*h]``.
        step: ``(params, carry, x_proj_t[*b, G*h]) -> (carry, h_t[*b, h])``.
        hidden: ``carry -> h``.
        replace_hidden: ``(carry, h) -> carry`` with its hidden part replaced.
        options: the options this cell was made with (for configs and reprs).
        init_options: the names in ``options`` that only ``init`` reads. Runs whose cells
            differ only in these share their compiled training, evaluation and diagnostics
            programs within a process (``runner.run``); leave it empty when unsure.
        prepare: ``params -> params``, called once by ``unroll`` before the loop.
        recurrent_matrix: ``params -> [G*n, n]`` (real or complex) whose gate blocks the
            spectra diagnostics analyse, or ``None`` for a cell with no fixed recurrent
            matrix (``mingru``, ``minlstm``: their recurrence depends on the input).
        readout: ``(params, carry, x_proj_t) -> y_t`` when the output is not ``hidden(carry)``.
        linear: a :class:`LinearRecurrence` when the recurrence is linear in the state, which
            lets ``unroll`` run it in parallel over time.
        split: a :class:`SplitStep` when ``step`` applies ``linear(hidden(carry), w_hh)`` once
            and nothing else of ``w_hh``, which lets ``unroll`` form the weight gradients with
            one matmul after the loop (``weight_gradients="one_matmul"``).
    """

    name: str
    num_gates: int
    init: Callable[..., Params]
    initial_carry: Callable[[Params, tuple[int, ...]], Carry]
    project_inputs: Callable[[Params, jax.Array], jax.Array]
    step: Callable[[Params, Carry, jax.Array], tuple[Carry, jax.Array]]
    hidden: Callable[[Carry], jax.Array]
    replace_hidden: Callable[[Carry, jax.Array], Carry]
    options: tuple[tuple[str, Any], ...] = ()
    init_options: tuple[str, ...] = ()
    prepare: Callable[[Params], Params] = lambda params: params
    recurrent_matrix: Callable[[Params], jax.Array | None] = lambda params: params.get("w_hh")
    readout: Callable[[Params, Carry, jax.Array], jax.Array] | None = None
    linear: LinearRecurrence | None = None
    split: SplitStep | None = None


class SplitStep(NamedTuple):
    """A step cut at its one recurrent matmul ``r_t = linear(hidden(carry), params["w_hh"])``.

    ``step(params, carry, x_proj_t, r_t)`` is everything else: elementwise in the batch and
    free of ``w_hh``'s values. :func:`rnn_jax.unroll` uses the cut to run the backward pass
    without a ``w_hh`` gradient in the loop: each backward step gives ``dL/dr_t``, and
    ``dL/dw_hh = Σ_t dr_tᵀ h_{t-1}`` is one matmul over all steps after it.

    Attributes:
        step: ``(params, carry, x_proj_t[*b, G*h], r_t[*b, G*h]) -> (carry, h_t)``.
        uses: the parameters ``step`` reads (besides ``w_hh``'s shape); only these are
            differentiated inside the backward loop (gru: ``("b_hh",)``; exprnn: ``("b",)``).
        additive_gates: how many leading gate blocks of ``x_proj_t`` and ``r_t`` ``step`` reads
            only through their sum; ``None``: all (rnn, lstm, exprnn). The reset-after gru's
            is 2: its reset gate scales ``r_t``'s third block. The loops keep one array for
            those blocks instead of two.
    """

    step: Callable[[Params, Carry, jax.Array, jax.Array], tuple[Carry, jax.Array]]
    uses: tuple[str, ...] = ()
    additive_gates: int | None = None

    def joined(self, hidden: Callable[[Carry], jax.Array]) -> Callable[[Params, Carry, jax.Array], tuple[Carry, jax.Array]]:
        """The whole step, ``step(params, carry, x_t, linear(hidden(carry), params["w_hh"]))``."""

        def step(params, carry, x_t):
            return self.step(params, carry, x_t, linear(hidden(carry), params["w_hh"]))

        return step


class LinearRecurrence(NamedTuple):
    """A recurrence linear in its state: ``s_t = a_t ⊙ s_{t-1} + b_t``, elementwise.

    ``a_t`` and ``b_t`` depend on the (projected) input only, so the states of all steps are
    an associative scan of the pairs ``(a_t, b_t)`` under ``(a, b) ∘ (a', b') = (a a', a' b + b')``
    (Blelloch 1990; Martin & Cundy 2018), which :func:`rnn_jax.unroll` runs with
    ``jax.lax.associative_scan`` in its parallel mode. The cell's carry is one array, its
    own hidden part; ``to_state``/``from_state`` map it to and from the scan's domain (the
    LRU's complex state is carried as ``[Re | Im]``).

    Attributes:
        coefficients: ``(params, x_proj[..., G*h]) -> (a, b)``, elementwise over any leading axes.
        log_coefficients: ``(params, x_proj) -> (log a, log b)`` for cells whose coefficients
            are positive: the parallel mode then combines in log space,
            ``(la, lb) ∘ (la', lb') = (la + la', logaddexp(la' + lb, lb'))`` (Feng et al. 2024).
        to_state: ``carry -> s`` (linear).
        from_state: ``s -> carry`` (linear, the inverse of ``to_state``).
    """

    coefficients: Callable[[Params, jax.Array], tuple[jax.Array, jax.Array]]
    log_coefficients: Callable[[Params, jax.Array], tuple[jax.Array, jax.Array]] | None = None
    to_state: Callable[[jax.Array], jax.Array] = lambda carry: carry
    from_state: Callable[[jax.Array], jax.Array] = lambda state: state

    def step(self, readout=None):
        """The sequential step ``s_t = a_t ⊙ s_{t-1} + b_t`` of a cell with this recurrence,
        with the output ``readout(params, carry, x_proj_t)`` (default: the new carry)."""

        def step(params, carry, x_t):
            a, b = self.coefficients(params, x_t)
            carry = self.from_state(a * self.to_state(carry) + b)
            return carry, carry if readout is None else readout(params, carry, x_t)

        return step


# --- helpers shared by the cell files ---------------------------------------------------


def linear(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w.T`` for ``x[..., n]`` and ``w[m, n]`` (PyTorch's weight layout), no transpose copy."""
    return jax.lax.dot_general(x, w, (((x.ndim - 1,), (1,)), ((), ())))


def add_bias(y: jax.Array, b: jax.Array) -> jax.Array:
    """``y + b`` with the bias broadcast explicitly (safe under ``jax_numpy_rank_promotion='raise'``)."""
    return y + jnp.broadcast_to(b, y.shape)


def hidden_size(params: Params) -> int:
    return params["w_hh"].shape[-1]


def zeros_hidden(params: Params, batch_shape: tuple[int, ...]) -> jax.Array:
    return jnp.zeros((*tuple(batch_shape), hidden_size(params)), params["w_hh"].dtype)


def project_with_bias(params: Params, xs: jax.Array, folded_hh_bias: jax.Array | None) -> jax.Array:
    """``xs @ w_ih.T + b_ih (+ the part of b_hh that can be folded out of the recurrence)``.

    Inputs are cast to the parameters' dtype so the recurrence accumulates in it (float32
    by default) whatever the input dtype.
    """
    y = linear(xs.astype(params["w_ih"].dtype), params["w_ih"])
    bias = params.get("b_ih")
    if folded_hh_bias is not None:
        bias = folded_hh_bias if bias is None else bias + folded_hh_bias
    return y if bias is None else add_bias(y, bias)


def project_all_biases(params: Params, xs: jax.Array) -> jax.Array:
    """Input projection for cells whose whole ``b_hh`` adds to the pre-activation (rnn, lstm)."""
    return project_with_bias(params, xs, params.get("b_hh"))


def bound_init(num_gates: int, defaults: dict[str, Any], **fixed: Any) -> Callable[..., Params]:
    """An ``init(key, input_size, hidden_size, **overrides)`` with the cell's init options bound.

    The options are checked now, when the cell is made, not when ``init`` is first called.
    """
    initializers.resolve(defaults, num_gates=num_gates, **fixed)

    def init(key, input_size: int, hidden_size: int, **overrides: Any) -> Params:
        return initializers.init_params(
            key, input_size, hidden_size, num_gates=num_gates, **fixed, **{**defaults, **overrides}
        )

    return init


def identity_hidden(carry: jax.Array) -> jax.Array:
    return carry


def replace_whole(carry: jax.Array, h: jax.Array) -> jax.Array:
    del carry
    return h


# --- registry ----------------------------------------------------------------------------

REGISTRY: Registry[Cell] = Registry("cell", Cell)
register = REGISTRY.register
available = REGISTRY.available


def get(name: str | Cell, **options: Any) -> Cell:
    """Returns the cell registered as ``name``, made with ``options``.

    Args:
        name: a registered name (see :func:`available`), or a :class:`Cell` (returned as is).
        **options: the cell's options, e.g. ``activation="relu"`` for ``rnn``,
            ``reset_after=False`` for ``gru``, or init options (``init="keras"``...).

    Raises:
        ValueError: unknown name.
        TypeError: an option the cell does not take.
    """
    return REGISTRY.get(name, **options)

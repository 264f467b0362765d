"""The ``Cell`` contract and the cell registry.

A cell is a NamedTuple of pure functions on arrays with any leading batch dimensions. Every
cell has five::

    params = cell.init(key, input_size, hidden_size)        # dict of arrays
    carry = cell.initial_carry(params, batch_shape)         # zeros
    xs_proj = cell.project_inputs(params, xs)               # [..., G*h], hoisted over time
    carry, y = cell.step(params, carry, xs_proj[t])         # the recurrence only
    h = cell.hidden(carry)                                  # what probes see [the carry]

``hidden`` must select part of the carry (a linear map), so :func:`add_to_hidden` can add
``unroll``'s probe to it. Three optional capabilities, each absent by default:

    cell.split     a SplitStep: the step cut at its one recurrent matmul (one-matmul gradients)
    cell.linear_recurrence   a LinearRecurrence: s_t = a_t ⊙ s_{t-1} + b_t (parallel scans)
    cell.hooks     Hooks: prepare (once per sequence), output (when the step's output is not
                   its hidden state), recurrent_matrix (for the spectra)

Unrolled by hand (what :func:`rnn_jax.unroll` does, with masks, reverse and probes)::

    def body(carry, x_t):
        return cell.step(params, carry, x_t)
    final, ys = jax.lax.scan(body, carry, cell.project_inputs(params, xs_time_major))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax._random import draw
from rnn_jax.cells import initializers
from rnn_jax.registry import Registry
from rnn_jax.types import Carry, Params


def identity_hidden(carry: jax.Array) -> jax.Array:
    """The default ``Cell.hidden``: the carry is the hidden state."""
    return carry


def _w_hh(params: Params) -> jax.Array | None:
    return params.get("w_hh")


class Hooks(NamedTuple):
    """Optional functions that ``unroll`` and the diagnostics call.

    Attributes:
        prepare: ``params -> params``, called once per ``unroll`` before the loop
            (``exprnn``: ``w_hh = expm(A - Aᵀ)`` once per sequence instead of per step).
        output: ``(params, carry, x_proj_t) -> y_t`` when a step's output is not
            ``hidden(carry)`` (``lru``: ``Re(C s) + D x``); ``unroll`` calls it again after the
            probe enters the state, so the probe still means dL/dh_t.
        recurrent_matrix: ``params -> [G*n, n]`` (real or complex) whose gate blocks the
            spectra analyse (default: ``w_hh``), or ``None`` for a cell without a fixed one.
        constrain: ``params -> params``, a projection the trainer applies to the initial
            parameters and after every optimiser update (``indrnn``: ``|u| ≤ MAG^{1/T}``).
        check_length: ``steps -> None``, called by ``unroll`` with the number of time steps
            before anything is traced; raises ``ValueError`` for a length the cell was not
            made for (``indrnn``'s bound belongs to one ``T``).
        forward_map: ``() -> Cell``, the same cell without the changes it makes to its
            backward pass (``indrnn(grad_clip=...)``), for the analyses of the forward map
            (Jacobians, Lyapunov spectra): see :func:`forward_map`.
    """

    prepare: Callable[[Params], Params] = lambda params: params
    output: Callable[[Params, Carry, jax.Array], jax.Array] | None = None
    recurrent_matrix: Callable[[Params], jax.Array | None] | None = _w_hh
    constrain: Callable[[Params], Params] | None = None
    check_length: Callable[[int], None] | None = None
    forward_map: Callable[[], Cell] | None = None


class Cell(NamedTuple):
    """A recurrent cell as pure functions. See the module docstring for the contract.

    Attributes:
        name: registry name (``"lstm"``...).
        init: ``(key, input_size, hidden_size, **options) -> params``.
        initial_carry: ``(params, batch_shape) -> carry`` of zeros in the params' dtype.
        project_inputs: ``(params, xs[..., i]) -> xs_proj[..., G*h]``.
        step: ``(params, carry, x_proj_t[*b, G*h]) -> (carry, y_t[*b, h])``.
        hidden: ``carry -> h``, a selection from the carry (default: the whole carry).
        options: the options this cell was made with (for configs and reprs).
        init_options: the names in ``options`` that only ``init`` reads; runs whose cells
            differ only in these share their compiled training programs in a process.
        split: a :class:`SplitStep`, or ``None``.
        linear_recurrence: a :class:`LinearRecurrence`, or ``None``.
        hooks: the cell's :class:`Hooks`.
    """

    name: str
    init: Callable[..., Params]
    initial_carry: Callable[[Params, tuple[int, ...]], Carry]
    project_inputs: Callable[[Params, jax.Array], jax.Array]
    step: Callable[[Params, Carry, jax.Array], tuple[Carry, jax.Array]]
    hidden: Callable[[Carry], jax.Array] = identity_hidden
    options: tuple[tuple[str, Any], ...] = ()
    init_options: tuple[str, ...] = ()
    split: SplitStep | None = None
    linear_recurrence: LinearRecurrence | None = None
    hooks: Hooks = Hooks()


class SplitStep(NamedTuple):
    """A step cut at its one recurrent matmul ``r_t = linear(hidden(carry), params["w_hh"])``.

    ``after_matmul(params, carry, x_proj_t, r_t)`` is the rest of the step: elementwise in the
    batch and free of ``w_hh``'s values, so ``cell.step(p, c, x)`` equals
    ``after_matmul(p, c, x, linear(hidden(c), p["w_hh"]))``. ``unroll``'s one-matmul loop then
    forms ``dL/dw_hh = Σ_t dr_tᵀ h_{t-1}`` with one matmul after the backward loop.

    Attributes:
        after_matmul: ``(params, carry, x_proj_t[*b, G*h], r_t[*b, G*h]) -> (carry, y_t)``.
        num_gates: ``G``, the number of ``[h, h]`` blocks stacked in ``w_hh``.
        uses: the parameters ``after_matmul`` reads (besides ``w_hh``'s shape); only these
            are differentiated inside the backward loop (gru: ``("b_hh",)``; exprnn: ``("b",)``).
        additive_gates: how many leading gate blocks of ``x_proj_t`` and ``r_t`` it reads only
            through their sum; ``None``: all. The reset-after gru's is 2.
    """

    after_matmul: Callable[[Params, Carry, jax.Array, jax.Array], tuple[Carry, jax.Array]]
    num_gates: int = 1
    uses: tuple[str, ...] = ()
    additive_gates: int | None = None


class LinearRecurrence(NamedTuple):
    """A recurrence linear in its state: ``s_t = a_t ⊙ s_{t-1} + b_t``, elementwise.

    ``a_t`` and ``b_t`` depend on the (projected) input only, so ``unroll``'s parallel mode
    computes every state with ``jax.lax.associative_scan``. The cell's carry is one array;
    ``to_state``/``from_state`` map it to and from the scan's domain (the LRU's complex
    state is carried as ``[Re | Im]``).

    Attributes:
        coefficients: ``(params, x_proj[..., G*h]) -> (a, b)``, elementwise over leading axes.
        log_coefficients: ``(params, x_proj) -> (log a, log b)`` for positive coefficients,
            combined in log space (Feng et al. 2024).
        to_state: ``carry -> s`` (linear).
        from_state: ``s -> carry`` (linear, the inverse of ``to_state``).
    """

    coefficients: Callable[[Params, jax.Array], tuple[jax.Array, jax.Array]]
    log_coefficients: Callable[[Params, jax.Array], tuple[jax.Array, jax.Array]] | None = None
    to_state: Callable[[jax.Array], jax.Array] = lambda carry: carry
    from_state: Callable[[jax.Array], jax.Array] = lambda state: state

    def as_step(self, output=None):
        """The sequential step ``s_t = a_t ⊙ s_{t-1} + b_t`` with the output
        ``output(params, carry, x_proj_t)`` (default: the new carry)."""

        def step(params, carry, x_t):
            a, b = self.coefficients(params, x_t)
            carry = self.from_state(a * self.to_state(carry) + b)
            return carry, carry if output is None else output(params, carry, x_t)

        return step


def forward_map(cell: Cell) -> Cell:
    """``cell``, or the twin its hooks give whose step is differentiable forwards
    (``jax.jvp``) and whose Jacobians are those of the map itself: a custom backward pass
    (``indrnn``'s ``grad_clip``) is a training device, not part of the dynamics."""
    return cell if cell.hooks.forward_map is None else cell.hooks.forward_map()


def add_to_hidden(cell: Cell, carry: Carry, delta: jax.Array) -> Carry:
    """``carry`` with ``delta`` added to its hidden part (``hidden`` is a selection, so its
    transpose puts ``delta`` back where ``hidden`` reads it and zeros elsewhere)."""
    (placed,) = jax.linear_transpose(cell.hidden, carry)(delta)
    return jax.tree.map(jnp.add, carry, placed)


def output(cell: Cell, params: Params, carry: Carry, x_t: jax.Array) -> jax.Array:
    """The step's output for ``carry``: ``hooks.output`` if the cell has one, else ``hidden(carry)``."""
    return cell.hidden(carry) if cell.hooks.output is None else cell.hooks.output(params, carry, x_t)


# --- helpers shared by the cell files ---------------------------------------------------


def linear(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w.T`` for ``x[..., n]`` and ``w[m, n]`` (PyTorch's weight layout), no transpose copy."""
    return jax.lax.dot_general(x, w, (((x.ndim - 1,), (1,)), ((), ())))


def add_bias(y: jax.Array, b: jax.Array) -> jax.Array:
    """``y + b`` with the bias broadcast explicitly (safe under ``jax_numpy_rank_promotion='raise'``)."""
    return y + jnp.broadcast_to(b, y.shape)


def uniform(key, shape: tuple[int, ...], bound: float) -> jax.Array:
    """``U[-bound, bound]`` float32 (``nn.Linear``'s default with ``bound = 1/sqrt(fan_in)``)."""
    return draw(jax.random.uniform, key, shape, minval=-bound, maxval=bound)


def zeros_sized_by(name: str) -> Callable[[Params, tuple[int, ...]], jax.Array]:
    """An ``initial_carry``: zeros ``[*batch_shape, n]`` with ``n`` and the dtype of ``params[name]``'s last axis."""

    def initial_carry(params: Params, batch_shape: tuple[int, ...]) -> jax.Array:
        return jnp.zeros((*tuple(batch_shape), params[name].shape[-1]), params[name].dtype)

    return initial_carry


def to_complex(carry: jax.Array) -> jax.Array:
    """``[..., 2n]`` reals ``[Re | Im]`` -> ``[..., n]`` complex (the lru's and urnn's carries)."""
    re, im = jnp.split(carry, 2, axis=-1)
    return jax.lax.complex(re, im)


def to_real(z: jax.Array) -> jax.Array:
    """``[..., n]`` complex -> ``[..., 2n]`` reals ``[Re | Im]``."""
    return jnp.concatenate([jnp.real(z), jnp.imag(z)], axis=-1)


def hidden_size(params: Params) -> int:
    """The hidden size of a cell with a recurrent matrix ``w_hh[..., G*h, h]``."""
    return params["w_hh"].shape[-1]


def zeros_hidden(params: Params, batch_shape: tuple[int, ...]) -> jax.Array:
    """A zero hidden state ``[*batch_shape, h]`` in ``w_hh``'s dtype (the usual ``initial_carry``)."""
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

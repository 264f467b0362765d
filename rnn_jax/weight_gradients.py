"""Weight gradients in one matmul: :func:`rnn_jax.unroll`'s sequential loop with a custom VJP.

Reverse-mode autodiff of ``jax.lax.scan`` accumulates ``dL/dw_hh`` inside the backward loop:
each step adds the outer product ``dr_tᵀ h_{t-1}`` (``r_t = h_{t-1} w_hhᵀ`` the recurrent
pre-activation) into a ``[G*h, h]`` accumulator, a small matmul and a read-modify-write of
the whole gradient at every step. The same holds for ``w_ih`` when the inputs are projected
inside the step. For a cell with a :class:`~rnn_jax.cells.base.SplitStep` this module runs
the backward loop without them: each backward step only propagates ``dL/dh`` and stores
``dr_t`` and ``dx_t`` (the projected input's cotangent), and after the loop

    dL/dw_hh = Σ_t dr_tᵀ h_{t-1}            one [G*h, t*b] @ [t*b, h] matmul
    dL/d(w_ih, biases), dL/dxs               one VJP of ``cell.project_inputs`` over all steps

so the loop body holds one matmul (``dr_t w_hh``) instead of two plus the accumulators.
Under ``remat`` the same is done per segment of steps: each segment's forward pass is
recomputed from the carry at its start, and its weight gradients are one matmul per segment.

The values are those of autodiff up to float rounding (the sums run in another order);
``tests/test_weight_gradients.py`` checks them against each other.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.cells.base import Cell, linear
from rnn_jax.types import CPU, Carry, Params


class WeightGradients(enum.StrEnum):
    """How :func:`rnn_jax.unroll`'s sequential loop forms the weights' gradients."""

    AUTO = "auto"  # by the measured rule of ``choose_weight_gradients``
    PER_STEP = "per_step"  # autodiff of the scan: accumulated in every backward step
    ONE_MATMUL = "one_matmul"  # custom VJP: one matmul over all steps after the backward loop


def choose_weight_gradients(cell: Cell, hidden_size: int, batch_size: int, *, backend: str | None = None) -> WeightGradients:
    """The path ``WeightGradients.AUTO`` resolves to.

    ``one_matmul`` for a cell with a :class:`~rnn_jax.cells.base.SplitStep` on a CPU from
    ``ONE_MATMUL_FROM_HIDDEN`` units, except for gated cells (more than one gate block) at
    batches of at least ``PER_STEP_FROM_BATCH`` with at most ``PER_STEP_UP_TO_HIDDEN`` units;
    ``per_step`` otherwise. Measured by ``benchmarks.weight_gradients`` (training step,
    T = 100, I = 16, lstm / gru / rnn at B in {8, 32, 128, 512} x H in {32, 128, 256, 512},
    2-core CPU; benchmarks/README.md): ``one_matmul / per_step`` was 0.55-0.89 at B = 8,
    0.67-1.05 at B = 32 and 0.93-1.02 at B >= 128 with H >= 256; at B >= 128 with H <= 128
    the LSTM and GRU lost or tied (0.94-1.26) and the tanh RNN won (0.77-0.92). The per-step
    outer product ``dr_tᵀ h_{t-1}`` contracts over the batch, so the smaller the batch, the
    less a step's matmul does for its read and write of the whole ``[G*h, h]`` accumulator.
    Below 64 units the runner trains groups of 2-4 seeds under ``vmap``
    (``runner.choose_members_per_call``), and there the one-matmul path lost: ``vmap`` puts
    the seed axis inside the stacked ``[t, seed, b, ...]`` arrays, which must be transposed
    for the matmuls after the loop (``benchmarks.weight_gradients --runner``, 8 seeds x 500
    steps at the main experiment's h = 32, one_matmul vs per_step: LSTM 11.7-11.9 vs
    9.1-9.3 s, GRU 10.3-11.0 vs 8.3-8.5 s, tanh RNN 5.0-5.1 vs 5.1-5.2 s), while alone the
    LSTM gained nothing at (B, H) = (32, 32) (0.99-1.02). On a GPU or TPU ``per_step`` (not
    measured: no accelerator was available).

    Args:
        cell: the cell.
        hidden_size: ``h``.
        batch_size: the product of the batch axes (per seed under the runner's ``vmap``).
        backend: ``"cpu"``, ``"gpu"``...; default: ``jax.default_backend()``.
    """
    backend = jax.default_backend() if backend is None else backend
    if cell.split is None or backend != CPU or hidden_size < ONE_MATMUL_FROM_HIDDEN:
        return WeightGradients.PER_STEP
    if cell.num_gates > 1 and batch_size >= PER_STEP_FROM_BATCH and hidden_size <= PER_STEP_UP_TO_HIDDEN:
        return WeightGradients.PER_STEP
    return WeightGradients.ONE_MATMUL


ONE_MATMUL_FROM_HIDDEN = 64
"""``WeightGradients.AUTO`` picks ``one_matmul`` on a CPU from this hidden size on (see ``choose_weight_gradients``)."""
PER_STEP_FROM_BATCH = 128
"""With ``PER_STEP_UP_TO_HIDDEN``: ``WeightGradients.AUTO`` picks ``per_step`` for a gated cell on a CPU from this batch size."""
PER_STEP_UP_TO_HIDDEN = 128
"""With ``PER_STEP_FROM_BATCH``: ``WeightGradients.AUTO`` picks ``per_step`` for a gated cell on a CPU up to this hidden size."""


def finish_step(cell: Cell, params: Params, carry: Carry, new_carry: Carry, h: jax.Array, x_t: jax.Array,
                probe_t: jax.Array | None, valid_t: jax.Array | None) -> tuple[Carry, jax.Array]:
    """What :func:`rnn_jax.unroll` does after ``cell.step`` on both paths: add the probe to the
    hidden state (and read the output again), and keep the old carry and emit zeros on padded
    steps (``valid_t`` false)."""
    if probe_t is not None:
        new_carry = cell.replace_hidden(new_carry, cell.hidden(new_carry) + probe_t)
        h = cell.hidden(new_carry) if cell.readout is None else cell.readout(params, new_carry, x_t)
    if valid_t is not None:
        valid_t = valid_t[..., None]
        new_carry = jax.tree.map(lambda new, old: jnp.where(valid_t, new, old), new_carry, carry)
        h = jnp.where(valid_t, h, jnp.zeros_like(h))
    return new_carry, h


def _add(a: Any, b: Any) -> Any:
    return jax.tree.map(jnp.add, a, b)


def _outer_sum(d: jax.Array, x: jax.Array) -> jax.Array:
    """``Σ_n d[n]ᵀ x[n]`` over every leading axis of ``d[..., m]`` and ``x[..., k]``: ``[m, k]``."""
    return jax.lax.dot_general(d.reshape(-1, d.shape[-1]), x.reshape(-1, x.shape[-1]), (((0,), (0,)), ((), ())))


def one_matmul_loop(cell: Cell, params: Params, xs_t: jax.Array, carry: Carry, probe: jax.Array | None,
                    valid: jax.Array | None, *, unroll: int | bool, segment: int | None,
                    hoist: bool) -> tuple[Carry, jax.Array]:
    """All steps of ``cell`` over time-major ``xs_t`` (forwards), differentiated with one
    matmul for the weights' gradients.

    Args:
        cell: a cell with a ``split``.
        params: its (prepared) parameters.
        xs_t: ``[t, *b, i]``.
        carry: the initial carry.
        probe: ``[t, *b, h]`` or ``None``.
        valid: ``[t, *b]`` bool (false on padded steps) or ``None``.
        unroll: steps per loop iteration.
        segment: ``None``, or steps per rematerialised segment (``remat``).
        hoist: project all inputs before the loop in the forward pass.

    Returns:
        ``(final_carry, hs[t, *b, h])``.
    """
    seq_len = xs_t.shape[0]
    if segment is None or segment >= seq_len:
        return _differentiated(cell, unroll, None, hoist)(params, xs_t, carry, probe, valid)
    count = math.ceil(seq_len / segment)
    pad = count * segment - seq_len
    if pad:  # padded steps at the end keep the carry and emit zeros; their outputs are cut off

        def pad_time(a):
            return jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)])

        batch_shape = xs_t.shape[1:-1]
        valid = jnp.ones((seq_len, *batch_shape), bool) if valid is None else valid
        xs_t, valid = pad_time(xs_t), pad_time(valid)
        probe = None if probe is None else pad_time(probe)
    final, hs = _differentiated(cell, unroll, segment, hoist)(params, xs_t, carry, probe, valid)
    return final, hs[:seq_len]


def _differentiated(cell: Cell, unroll, segment: int | None, hoist: bool):
    """``run(params, xs_t, carry, probe, valid) -> (final_carry, hs)`` with its custom VJP;
    with ``segment``, ``t`` must be a multiple of it."""
    split = cell.split

    def cut(x_p):
        """Columns of the pre-activations that the step reads only through ``x_p + r``."""
        gates = cell.num_gates if split.additive_gates is None else split.additive_gates
        return x_p.shape[-1] // cell.num_gates * gates

    def rest(params, used, carry, pre, probe_t, valid_t):
        """The step after its recurrent matmul, given ``pre = (x_p + r, x_p, r)`` with the
        first part over the additive columns and the others over the rest."""
        params = {**params, **used}
        summed, x_rest, r_rest = pre
        x_p = jnp.concatenate([summed, x_rest], -1)
        r = jnp.concatenate([jnp.zeros_like(summed), r_rest], -1)
        return finish_step(cell, params, carry, *split.step(params, carry, x_p, r), x_p, probe_t, valid_t)

    def forward(params, carry, xs, probe, valid, keep: bool):
        """The loop; with ``keep``, also each step's incoming carry and pre-activations (what
        the backward loop needs)."""

        def body(carry, inputs):
            x_t, probe_t, valid_t = inputs
            x_p = x_t if hoist else cell.project_inputs(params, x_t)
            r = linear(cell.hidden(carry), params["w_hh"])
            k = cut(x_p)
            pre = (x_p[..., :k] + r[..., :k], x_p[..., k:], r[..., k:])
            new_carry, h = rest(params, {}, carry, pre, probe_t, valid_t)
            return new_carry, (h, (carry, pre) if keep else None)

        inputs = cell.project_inputs(params, xs) if hoist else xs
        return jax.lax.scan(body, carry, (inputs, probe, valid), unroll=unroll)

    def backward(params, residuals, probe, valid, dhs, dcarry):
        """The reverse loop over one stretch of steps: the carry's cotangent before it, the
        cotangents of ``split.uses``, ``w_hh``, the projected inputs and the probe."""
        carries, pres = residuals
        w_hh = params["w_hh"]
        used = {key: params[key] for key in split.uses if key in params}

        def body(state, inputs):
            dcarry, dused = state
            carry, pre, probe_t, valid_t, dh = inputs
            _, vjp = jax.vjp(lambda u, c, pr, p: rest(params, u, c, pr, p, valid_t), used, carry, pre, probe_t)
            du, dc, (dsummed, dx_rest, dr_rest), dprobe_t = vjp((dcarry, dh))
            dr = jnp.concatenate([dsummed, dr_rest], -1)
            dc = cell.replace_hidden(dc, cell.hidden(dc) + jnp.matmul(dr, w_hh))  # r = h w_hhᵀ
            return (dc, _add(dused, du)), (jnp.concatenate([dsummed, dx_rest], -1), dr_rest, dprobe_t)

        start = (dcarry, jax.tree.map(jnp.zeros_like, used))
        (dcarry, dused), (dx_ps, dr_rests, dprobe) = jax.lax.scan(
            body, start, (carries, pres, probe, valid, dhs), reverse=True, unroll=unroll
        )
        h_prevs = jax.vmap(cell.hidden)(carries)
        k = cut(dx_ps)
        dw_hh = _outer_sum(dx_ps, h_prevs) if k == dx_ps.shape[-1] else jnp.concatenate(
            [_outer_sum(dx_ps[..., :k], h_prevs), _outer_sum(dr_rests, h_prevs)])
        return dcarry, dused, dw_hh, dx_ps, dprobe

    def project_vjp(params, xs, dx_ps):
        """The input projection's VJP over all steps at once, on ``[t*b, i]`` (as 2-D matmuls
        XLA:CPU runs it 1.7x faster than on ``[t, b, i]``: 45 vs 78 ms at (200, 128, 64, 256))."""
        _, vjp = jax.vjp(cell.project_inputs, params, xs.reshape(-1, xs.shape[-1]))
        dparams, dxs = vjp(dx_ps.reshape(-1, dx_ps.shape[-1]))
        return dparams, dxs.reshape(xs.shape)

    def gradients(dparams, dused, dw_hh):
        dparams = {**dparams, "w_hh": dparams["w_hh"] + dw_hh}
        return {**dparams, **{key: dparams[key] + value for key, value in dused.items()}}

    @jax.custom_vjp
    def run(params, xs, carry, probe, valid):
        final, (hs, _) = forward(params, carry, xs, probe, valid, keep=False)
        return final, hs

    def by_segment(a):
        return None if a is None else a.reshape(-1, segment, *a.shape[1:])

    def run_fwd(params, xs, carry, probe, valid):
        if segment is None:
            final, (hs, residuals) = forward(params, carry, xs, probe, valid, keep=True)
            return (final, hs), (params, xs, probe, valid, residuals)

        def segment_body(carry, inputs):  # keeps only the carry at each segment's start
            new_carry, (hs, _) = forward(params, carry, *inputs, keep=False)
            return new_carry, (hs, carry)

        final, (hs, starts) = jax.lax.scan(segment_body, carry, (by_segment(xs), by_segment(probe), by_segment(valid)))
        return (final, hs.reshape(-1, *hs.shape[2:])), (params, xs, probe, valid, starts)

    def run_bwd(saved, cotangents):
        params, xs, probe, valid, residuals = saved
        dfinal, dhs = cotangents
        if segment is None:
            dcarry, dused, dw_hh, dx_ps, dprobe = backward(params, residuals, probe, valid, dhs, dfinal)
            dparams, dxs = project_vjp(params, xs, dx_ps)
            return gradients(dparams, dused, dw_hh), dxs, dcarry, dprobe, None

        def segment_body(state, inputs):  # recomputes the segment, then runs back over it
            dcarry, dparams = state
            start, xs_s, probe_s, valid_s, dhs_s = inputs
            _, (_, kept) = forward(params, start, xs_s, probe_s, valid_s, keep=True)
            dcarry, dused, dw_hh, dx_ps, dprobe_s = backward(params, kept, probe_s, valid_s, dhs_s, dcarry)
            dprojection, dxs_s = project_vjp(params, xs_s, dx_ps)
            return (dcarry, _add(dparams, gradients(dprojection, dused, dw_hh))), (dxs_s, dprobe_s)

        zeros = jax.tree.map(jnp.zeros_like, params)
        (dcarry, dparams), (dxs, dprobe) = jax.lax.scan(
            segment_body, (dfinal, zeros),
            (residuals, by_segment(xs), by_segment(probe), by_segment(valid), by_segment(dhs)), reverse=True,
        )
        dprobe = None if dprobe is None else dprobe.reshape(probe.shape)
        return dparams, dxs.reshape(xs.shape), dcarry, dprobe, None

    run.defvjp(run_fwd, run_bwd)
    return run

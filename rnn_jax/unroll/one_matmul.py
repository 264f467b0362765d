"""The sequential loop with weight gradients in one matmul: a custom VJP.

Autodiff of ``jax.lax.scan`` accumulates ``dL/dw_hh`` inside the backward loop, one outer
product ``dr_tᵀ h_{t-1}`` per step (``r_t = h_{t-1} w_hhᵀ``). For a cell with a
:class:`~rnn_jax.cells.base.SplitStep` this loop's backward pass only propagates ``dL/dh``
and stores ``dr_t`` and ``dx_t`` (the projected input's cotangent); after the loop

    dL/dw_hh = Σ_t dr_tᵀ h_{t-1}            one [G*h, t*b] @ [t*b, h] matmul
    dL/d(w_ih, biases), dL/dxs               one VJP of ``cell.project_inputs`` over all steps

Under ``remat`` the same is done per segment, each recomputed from the carry at its start.
The values are autodiff's up to float rounding (``tests/test_weight_gradients.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.cells.base import Cell, add_to_hidden, linear
from rnn_jax.types import Carry, Params
from rnn_jax.unroll.masks import time_valid
from rnn_jax.unroll.options import Options
from rnn_jax.unroll.segments import segment_length
from rnn_jax.unroll.step import finish_step


def _add(a: Any, b: Any) -> Any:
    return jax.tree.map(jnp.add, a, b)


def _outer_sum(d: jax.Array, x: jax.Array) -> jax.Array:
    """``Σ_n d[n]ᵀ x[n]`` over every leading axis of ``d[..., m]`` and ``x[..., k]``: ``[m, k]``."""
    return jax.lax.dot_general(d.reshape(-1, d.shape[-1]), x.reshape(-1, x.shape[-1]), (((0,), (0,)), ((), ())))


def _pad_time(a: jax.Array, pad: int) -> jax.Array:
    return jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)])


def run(cell: Cell, params: Params, xs_t, carry, probe, lengths, backwards: bool, options: Options):
    """``(final_carry, hs)`` of ``cell`` over time-major ``xs_t``, differentiated with one
    matmul for the weights' gradients."""
    if backwards:  # without lengths: the whole time axis runs backwards
        xs_t = jnp.flip(xs_t, 0)
        probe = None if probe is None else jnp.flip(probe, 0)
    valid = time_valid(lengths, xs_t.shape[0])
    seq_len = xs_t.shape[0]
    segment = segment_length(options.remat, seq_len) if options.remat else None
    if segment is None or segment >= seq_len:
        final, hs = _Loop(cell, options.unroll, None, options.hoist).differentiated(params, xs_t, carry, probe, valid)
    else:
        pad = math.ceil(seq_len / segment) * segment - seq_len
        if pad:  # padded steps at the end keep the carry and emit zeros; their outputs are cut off
            valid = jnp.ones(xs_t.shape[:-1], bool) if valid is None else valid
            xs_t, valid = _pad_time(xs_t, pad), _pad_time(valid, pad)
            probe = None if probe is None else _pad_time(probe, pad)
        loop = _Loop(cell, options.unroll, segment, options.hoist)
        final, hs = loop.differentiated(params, xs_t, carry, probe, valid)
        hs = hs[:seq_len]
    return final, jnp.flip(hs, 0) if backwards else hs


@dataclasses.dataclass(frozen=True)
class _Loop:
    """The forward and backward loops of one call; with ``segment``, ``t`` is a multiple of it."""

    cell: Cell
    unroll: int | bool
    segment: int | None
    hoist: bool

    def cut(self, x_p: jax.Array) -> int:
        """Columns of the pre-activations that the step reads only through ``x_p + r``."""
        split = self.cell.split
        gates = split.num_gates if split.additive_gates is None else split.additive_gates
        return x_p.shape[-1] // split.num_gates * gates

    def after_matmul(self, params, used, carry, pre, probe_t, valid_t):
        """The step after its recurrent matmul, given ``pre = (x_p + r, x_p, r)`` with the
        first part over the additive columns and the others over the rest."""
        params = {**params, **used}
        summed, x_rest, r_rest = pre
        x_p = jnp.concatenate([summed, x_rest], -1)
        r = jnp.concatenate([jnp.zeros_like(summed), r_rest], -1)
        new_carry, h = self.cell.split.after_matmul(params, carry, x_p, r)
        return finish_step(self.cell, params, carry, new_carry, h, x_p, probe_t, valid_t)

    def forward(self, params, carry, xs, probe, valid, keep: bool):
        """The loop; with ``keep``, also each step's incoming carry and pre-activations."""
        cell = self.cell

        def body(carry, inputs):
            x_t, probe_t, valid_t = inputs
            x_p = x_t if self.hoist else cell.project_inputs(params, x_t)
            r = linear(cell.hidden(carry), params["w_hh"])
            k = self.cut(x_p)
            pre = (x_p[..., :k] + r[..., :k], x_p[..., k:], r[..., k:])
            new_carry, h = self.after_matmul(params, {}, carry, pre, probe_t, valid_t)
            return new_carry, (h, (carry, pre) if keep else None)

        inputs = cell.project_inputs(params, xs) if self.hoist else xs
        return jax.lax.scan(body, carry, (inputs, probe, valid), unroll=self.unroll)

    def backward(self, params, residuals, probe, valid, dhs, dcarry):
        """The reverse loop over one stretch of steps: the carry's cotangent before it, the
        cotangents of ``split.uses``, ``w_hh``, the projected inputs and the probe."""
        cell = self.cell
        carries, pres = residuals
        w_hh = params["w_hh"]
        used = {key: params[key] for key in cell.split.uses if key in params}

        def body(state, inputs):
            dcarry, dused = state
            carry, pre, probe_t, valid_t, dh = inputs
            _, vjp = jax.vjp(lambda u, c, pr, p: self.after_matmul(params, u, c, pr, p, valid_t), used, carry, pre, probe_t)
            du, dc, (dsummed, dx_rest, dr_rest), dprobe_t = vjp((dcarry, dh))
            dr = jnp.concatenate([dsummed, dr_rest], -1)
            dc = add_to_hidden(cell, dc, jnp.matmul(dr, w_hh))  # r = h w_hhᵀ
            return (dc, _add(dused, du)), (jnp.concatenate([dsummed, dx_rest], -1), dr_rest, dprobe_t)

        start = (dcarry, jax.tree.map(jnp.zeros_like, used))
        (dcarry, dused), (dx_ps, dr_rests, dprobe) = jax.lax.scan(
            body, start, (carries, pres, probe, valid, dhs), reverse=True, unroll=self.unroll
        )
        h_prevs = jax.vmap(cell.hidden)(carries)
        k = self.cut(dx_ps)
        dw_hh = _outer_sum(dx_ps, h_prevs) if k == dx_ps.shape[-1] else jnp.concatenate(
            [_outer_sum(dx_ps[..., :k], h_prevs), _outer_sum(dr_rests, h_prevs)])
        return dcarry, dused, dw_hh, dx_ps, dprobe

    def project_vjp(self, params, xs, dx_ps):
        """The input projection's VJP over all steps at once, on ``[t*b, i]`` (2-D matmuls,
        which XLA:CPU runs faster than on ``[t, b, i]``)."""
        _, vjp = jax.vjp(self.cell.project_inputs, params, xs.reshape(-1, xs.shape[-1]))
        dparams, dxs = vjp(dx_ps.reshape(-1, dx_ps.shape[-1]))
        return dparams, dxs.reshape(xs.shape)

    @staticmethod
    def gradients(dparams, dused, dw_hh):
        dparams = {**dparams, "w_hh": dparams["w_hh"] + dw_hh}
        return {**dparams, **{key: dparams[key] + value for key, value in dused.items()}}

    def by_segment(self, a):
        return None if a is None else a.reshape(-1, self.segment, *a.shape[1:])

    @property
    def differentiated(self):
        """``run(params, xs_t, carry, probe, valid) -> (final_carry, hs)`` with its custom VJP."""

        @jax.custom_vjp
        def run(params, xs, carry, probe, valid):
            final, (hs, _) = self.forward(params, carry, xs, probe, valid, keep=False)
            return final, hs

        run.defvjp(self.run_fwd, self.run_bwd)
        return run

    def run_fwd(self, params, xs, carry: Carry, probe, valid):
        if self.segment is None:
            final, (hs, residuals) = self.forward(params, carry, xs, probe, valid, keep=True)
            return (final, hs), (params, xs, probe, valid, residuals)

        def segment_body(carry, inputs):  # keeps only the carry at each segment's start
            new_carry, (hs, _) = self.forward(params, carry, *inputs, keep=False)
            return new_carry, (hs, carry)

        by = self.by_segment
        final, (hs, starts) = jax.lax.scan(segment_body, carry, (by(xs), by(probe), by(valid)))
        return (final, hs.reshape(-1, *hs.shape[2:])), (params, xs, probe, valid, starts)

    def run_bwd(self, saved, cotangents):
        params, xs, probe, valid, residuals = saved
        dfinal, dhs = cotangents
        if self.segment is None:
            dcarry, dused, dw_hh, dx_ps, dprobe = self.backward(params, residuals, probe, valid, dhs, dfinal)
            dparams, dxs = self.project_vjp(params, xs, dx_ps)
            return self.gradients(dparams, dused, dw_hh), dxs, dcarry, dprobe, None

        def segment_body(state, inputs):  # recomputes the segment, then runs back over it
            dcarry, dparams = state
            start, xs_s, probe_s, valid_s, dhs_s = inputs
            _, (_, kept) = self.forward(params, start, xs_s, probe_s, valid_s, keep=True)
            dcarry, dused, dw_hh, dx_ps, dprobe_s = self.backward(params, kept, probe_s, valid_s, dhs_s, dcarry)
            dprojection, dxs_s = self.project_vjp(params, xs_s, dx_ps)
            return (dcarry, _add(dparams, self.gradients(dprojection, dused, dw_hh))), (dxs_s, dprobe_s)

        by = self.by_segment
        zeros = jax.tree.map(jnp.zeros_like, params)
        (dcarry, dparams), (dxs, dprobe) = jax.lax.scan(
            segment_body, (dfinal, zeros), (residuals, by(xs), by(probe), by(valid), by(dhs)), reverse=True,
        )
        dprobe = None if dprobe is None else dprobe.reshape(probe.shape)
        return dparams, dxs.reshape(xs.shape), dcarry, dprobe, None

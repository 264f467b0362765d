"""``unroll`` against plain Python loops, trimmed sequences, hand reversal and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from rnn_jax import cells, unroll

from .conftest import assert_gradients_match_finite_differences, tolerance

CLASSIC = ["rnn", "irnn", "lstm", "gru", ("gru", {"reset_after": False}), "exprnn", "lru", "mingru", "minlstm",
           ("mingru", {"log_space": False})]
IDS = ["rnn", "irnn", "lstm", "gru", "gru_reset_before", "exprnn", "lru", "mingru", "minlstm", "mingru_plain"]
# The remedy zoo (30-40 s per cell here): in the slow suite, which CI runs first
# scornn's default passes the authors' direction V^T - V to A, not the gradient: the contract
# (finite differences) is checked with the true gradient, the authors' direction in test_remedy_parity
ZOO = ["urnn", ("scornn", {"negative_eigenvalues": 2, "authors_update": False}), ("indrnn", {"seq_len": 9}), ("cornn", {"dt": 0.1, "gamma": 2.0}),
       ("lem", {"dt": 0.5}), ("antisymmetric", {"epsilon": 0.5}), ("antisymmetric", {"gated": True})]
ZOO_IDS = ["urnn", "scornn", "indrnn", "cornn", "lem", "antisymmetric", "antisymmetric_gated"]
CELLS = [pytest.param(spec, id=i) for spec, i in zip(CLASSIC, IDS)] + [
    pytest.param(spec, id=i, marks=pytest.mark.slow) for spec, i in zip(ZOO, ZOO_IDS)]


def _cell(spec):
    name, options = (spec, {}) if isinstance(spec, str) else spec
    return cells.get(name, **options)


def _setup(spec, key, batch=(3,), seq_len=9, input_size=4, hidden=6, dtype=jnp.float32):
    cell = _cell(spec)
    k_p, k_x = jax.random.split(key)
    params = jax.tree.map(lambda a: a.astype(dtype), cell.init(k_p, input_size, hidden))
    if cell.name == "irnn":  # identity init is too tame to show bugs: perturb it
        params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(k_p, a.shape, a.dtype), params)
    xs = jax.random.normal(k_x, (*batch, seq_len, input_size), dtype)
    return cell, params, xs


def _scale(x) -> float:
    """The largest magnitude in ``x``, at least 1: float32 rounding grows with it (a unitary cell's
    states and gradients are not squashed into [-1, 1], so the urnn's reach 6 and 300 here)."""
    return max(1.0, float(jnp.max(jnp.abs(x))))


def _python_loop(cell, params, xs, carry=None, probe=None):
    """The reference: project each step separately and call ``step`` in a Python loop; a probe
    is added to the state, and the output read from the perturbed state."""
    batch_shape = xs.shape[:-2]
    params = cell.hooks.prepare(params)
    carry = cell.initial_carry(params, batch_shape) if carry is None else carry
    hs = []
    for t in range(xs.shape[-2]):
        x_t = cell.project_inputs(params, xs[..., t, :])
        carry, h = cell.step(params, carry, x_t)
        if probe is not None:
            carry = (carry[0] + probe[t], *carry[1:]) if isinstance(carry, tuple) else carry + probe[t]  # lstm: (h, c)
            h = cell.hidden(carry) if cell.hooks.output is None else cell.hooks.output(params, carry, x_t)
        hs.append(h)
    return carry, jnp.stack(hs, axis=-2)


@pytest.mark.parametrize("spec", CELLS)
def test_scan_equals_python_loop(spec, key):
    cell, params, xs = _setup(spec, key, batch=(2, 3))  # two batch dims: batch-agnostic
    final, hs = unroll(cell, params, xs)
    ref_final, ref_hs = _python_loop(cell, params, xs)
    np.testing.assert_allclose(hs, ref_hs, atol=1e-5)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(ref_final)):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("spec", CELLS)
def test_unbatched_and_time_major_agree(spec, key):
    cell, params, xs = _setup(spec, key)
    _, hs = unroll(cell, params, xs)
    _, hs_tm = unroll(cell, params, jnp.moveaxis(xs, -2, 0), time_major=True)
    np.testing.assert_allclose(jnp.moveaxis(hs_tm, 0, -2), hs, atol=1e-6 * _scale(hs))
    _, hs0 = unroll(cell, params, xs[0])  # no batch dimension at all
    np.testing.assert_allclose(hs0, hs[0], atol=1e-6 * _scale(hs))


@pytest.mark.parametrize("spec", CELLS)
@pytest.mark.parametrize("reverse", [False, True])
def test_masked_equals_trimmed(spec, reverse, key):
    cell, params, xs = _setup(spec, key, batch=(4,), seq_len=8)
    lengths = jnp.array([8, 3, 1, 5])
    final, hs = unroll(cell, params, xs, lengths=lengths, reverse=reverse)
    for b, n in enumerate(lengths.tolist()):
        f_b, hs_b = unroll(cell, params, xs[b, :n], reverse=reverse)
        np.testing.assert_allclose(hs[b, :n], hs_b, atol=1e-5)
        np.testing.assert_array_equal(hs[b, n:], 0.0)  # padded steps emit zeros
        for a, c in zip(jax.tree.leaves(final), jax.tree.leaves(f_b)):
            np.testing.assert_allclose(a[b], c, atol=1e-5)


@pytest.mark.parametrize("spec", CELLS)
def test_padding_values_never_matter(spec, key):
    cell, params, xs = _setup(spec, key, batch=(2,), seq_len=7)
    lengths = jnp.array([4, 7])
    garbage = xs.at[0, 4:].set(1e3)
    for reverse in (False, True):
        a = unroll(cell, params, xs, lengths=lengths, reverse=reverse)
        b = unroll(cell, params, garbage, lengths=lengths, reverse=reverse)
        jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.parametrize("spec", CELLS)
def test_reverse_equals_flipping_by_hand(spec, key):
    cell, params, xs = _setup(spec, key)
    final, hs = unroll(cell, params, xs, reverse=True)
    ref_final, ref_hs = _python_loop(cell, params, xs[..., ::-1, :])
    np.testing.assert_allclose(hs, ref_hs[..., ::-1, :], atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), final, ref_final)


@pytest.mark.parametrize("spec", CELLS)
def test_initial_carry_is_used(spec, key):
    cell, params, xs = _setup(spec, key)
    carry = jax.tree.map(lambda a: jnp.full_like(a, 0.3), cell.initial_carry(params, (3,)))
    final, hs = unroll(cell, params, xs, initial_carry=carry)
    ref_final, ref_hs = _python_loop(cell, params, xs, carry=carry)
    np.testing.assert_allclose(hs, ref_hs, atol=1e-5)


@pytest.mark.parametrize("spec", CELLS)
def test_unroll_factor_remat_and_hoisting_change_nothing(spec, key):
    cell, params, xs = _setup(spec, key)

    def loss(p, **kw):
        return jnp.sum(unroll(cell, p, xs, **kw)[1] ** 2)

    ref_value, ref_grad = jax.value_and_grad(loss)(params)
    for kw in ({"unroll": 4}, {"remat": True}, {"unroll": True, "remat": True}, {"hoist": True},
               {"hoist": True, "remat": True}):
        value, grad = jax.value_and_grad(lambda p: loss(p, **kw))(params)
        np.testing.assert_allclose(value, ref_value, rtol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * _scale(b)), grad, ref_grad)


@pytest.mark.parametrize("spec", [pytest.param("lstm", marks=pytest.mark.slow), "gru"])  # lstm: 20-28 s each
@pytest.mark.parametrize(("use_lengths", "reverse"), [(False, False), (True, True),  # gru: 10-14 s each; the mixed
                                                      pytest.param(True, False, marks=pytest.mark.slow),  # pairs are slow
                                                      pytest.param(False, True, marks=pytest.mark.slow)])
def test_segment_remat_equals_the_plain_scan(spec, reverse, use_lengths, key):
    """Segments of 1, 2, 4 (9 = 2*4 + a tail of 1), sqrt(9) = 3 and more than t steps: same
    values and gradients (parameters, inputs and probe) as no rematerialisation."""
    cell, params, xs = _setup(spec, key)
    lengths = jnp.array([9, 3, 6]) if use_lengths else None
    probe = jnp.zeros((9, 3, 6))

    def loss(p, x, q, remat):
        final, hs = unroll(cell, p, x, lengths=lengths, reverse=reverse, probe=q, remat=remat)
        return jnp.sum(hs ** 2) + jnp.sum(jnp.tanh(cell.hidden(final)))

    grad = jax.value_and_grad(loss, argnums=(0, 1, 2))
    ref_value, ref_grads = grad(params, xs, probe, False)
    for remat in (True, 1, 2, 4, 20):
        value, grads = grad(params, xs, probe, remat)
        np.testing.assert_allclose(value, ref_value, rtol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), grads, ref_grads)


@pytest.mark.parametrize("spec", CELLS)
@pytest.mark.parametrize("use_lengths", [False, True])
def test_probe_gradient_is_dl_dh(spec, use_lengths, key):
    """grad wrt the probe == dL/dh_t from differentiating a Python loop that exposes h_t."""
    cell, params, xs = _setup(spec, key, batch=(3,), seq_len=6)
    target = jax.random.normal(jax.random.key(5), (3, 6))
    lengths = jnp.array([6, 2, 4]) if use_lengths else None

    def loss_from_hs(hs):  # a loss of every output, so each h_t matters directly and via later steps
        return jnp.sum((hs[..., 0] - target) ** 2) + jnp.sum(jnp.tanh(hs[:, -1]))

    probe = jnp.zeros((6, 3, 6))
    got = jax.grad(lambda p: loss_from_hs(unroll(cell, params, xs, lengths=lengths, probe=p)[1]))(probe)
    # reference: perturbations added to h_t inside a Python loop (per sequence, trimmed)
    ref = np.zeros((6, 3, 6), np.float32)
    for b in range(3):
        n = 6 if lengths is None else int(lengths[b])

        def loss_b(eps, b=b, n=n):
            _, hs = _python_loop(cell, params, xs[b : b + 1, :n], probe=eps[:, None])
            hs = jnp.pad(hs[0], ((0, 6 - n), (0, 0)))
            full = jnp.zeros((3, 6, 6)).at[b].set(hs)
            return loss_from_hs(full) - loss_from_hs(full.at[b].set(0.0))

        ref[:n, b] = np.asarray(jax.grad(loss_b)(jnp.zeros((n, 6))))
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("spec", CELLS)
def test_gradients_match_central_finite_differences(spec, key):
    with enable_x64():
        cell, params, xs = _setup(spec, key, batch=(2,), seq_len=5, dtype=jnp.float64)
        lengths = jnp.array([5, 3])

        def loss(p, x):
            _, hs = unroll(cell, p, x, lengths=lengths, reverse=True)
            return jnp.sum(jnp.sin(hs))

        assert_gradients_match_finite_differences(loss, params, xs)


def test_float64_stays_float64_and_bf16_inputs_accumulate_in_float32(key):
    cell = cells.get("lstm")
    params = cell.init(key, 3, 4)
    _, hs = unroll(cell, params, jnp.ones((2, 5, 3), jnp.bfloat16))
    assert hs.dtype == jnp.float32
    with enable_x64():
        p64 = cell.init(key, 3, 4, dtype=jnp.float64)
        _, hs = unroll(cell, p64, jnp.ones((2, 5, 3), jnp.float64))
        assert hs.dtype == jnp.float64
    assert tolerance(jnp.float64) < tolerance(jnp.float32)


def test_second_call_with_new_values_does_not_recompile(key):
    cell = cells.get("gru")
    traces = []

    @jax.jit
    def run(params, xs, lengths):
        traces.append(1)
        return unroll(cell, params, xs, lengths=lengths)[1].sum()

    params = cell.init(key, 3, 4)
    xs = jnp.ones((2, 5, 3))
    run(params, xs, jnp.array([5, 2]))
    run(jax.tree.map(lambda a: a + 1, params), xs * 2, jnp.array([1, 3]))
    assert len(traces) == 1
    assert run._cache_size() == 1


BAD = [
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 4))), ValueError, "expected input_size=3"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3), jnp.int32)), TypeError, "floating-point"),
    (lambda c, p: unroll(c, p, jnp.ones((3,))), ValueError, "rank >= 2"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 0, 3))), ValueError, "no time steps"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3)), lengths=jnp.array([5, 6])), ValueError, r"\[1, 5\]"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3)), lengths=jnp.array([0, 2])), ValueError, r"\[1, 5\]"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3)), lengths=jnp.array([5])), ValueError, "shape"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3)), lengths=jnp.array([5.0, 2.0])), TypeError, "integer"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3)), unroll=0), ValueError, "unroll=0"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3)), probe=jnp.zeros((2, 5, 4))), ValueError, "probe"),
    (lambda c, p: unroll(c, p, jnp.ones((2, 5, 3)), initial_carry=jnp.zeros((2, 4))), ValueError, "initial_carry"),
    (lambda c, p: unroll("lstm", p, jnp.ones((2, 5, 3))), TypeError, "cells.get"),
    (lambda c, p: unroll(c, {"w": 1}, jnp.ones((2, 5, 3))), TypeError, "params"),
]


@pytest.mark.parametrize("call,error,match", BAD)
def test_bad_inputs_raise_clear_errors(call, error, match, key):
    cell = cells.get("lstm")
    with pytest.raises(error, match=match):
        call(cell, cell.init(key, 3, 4))


def test_bad_lengths_inside_jit_still_checked_by_shape(key):
    cell = cells.get("rnn")
    params = cell.init(key, 3, 4)
    with pytest.raises(ValueError, match="lengths must have shape"):
        jax.jit(lambda x, n: unroll(cell, params, x, lengths=n))(jnp.ones((2, 5, 3)), jnp.array([1, 2, 3]))


def test_concrete_lengths_closed_over_inside_jit_are_checked_and_work(key):
    cell = cells.get("rnn")
    params = cell.init(key, 3, 4)
    xs = jnp.ones((2, 5, 3))
    good = jnp.array([5, 2])
    expected = unroll(cell, params, xs, lengths=good)[1]
    np.testing.assert_allclose(jax.jit(lambda x: unroll(cell, params, x, lengths=good)[1])(xs), expected, atol=1e-6)
    bad = jnp.array([6, 2])
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        jax.jit(lambda x: unroll(cell, params, x, lengths=bad))(xs)

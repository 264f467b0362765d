"""``unroll(..., weight_gradients="one_matmul")`` (a custom VJP) against autodiff of the scan.

Here the two paths are compared directly, with every option of the loop, and under ``vmap``
over seeds; ``test_unroll.py``'s contract tests (finite differences in float64, probe =
dL/dh_t, masked == trimmed...) run with ``"auto"``, which picks ``per_step`` at their small
hidden sizes, so the finite-difference test also runs here for the one-matmul path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from rnn_jax import cells, unroll
from rnn_jax.types import CPU
from rnn_jax.unroll.options import (
    ONE_MATMUL_FROM_HIDDEN,
    PER_STEP_FROM_BATCH,
    PER_STEP_UP_TO_HIDDEN,
    WeightGradients,
    choose_weight_gradients,
)

from .conftest import assert_gradients_match_finite_differences

SPLIT = [("rnn", {}), ("lstm", {}), ("gru", {}), ("exprnn", {}), ("irnn", {})]

# float32. Both paths compute the same terms; the one-matmul path sums dL/dw over steps in
# one matmul instead of step by step, so they differ by float32 rounding of those sums:
# measured up to 2e-6 of each array's largest magnitude. The tolerance, 2e-5 of it, leaves 10x.
TOL = 2e-5


def assert_close(actual, desired):
    scale = max(1.0, float(np.max(np.abs(desired)))) if np.size(desired) else 1.0
    np.testing.assert_allclose(actual, desired, rtol=TOL, atol=TOL * scale)


OPTIONS = {
    "plain": {},
    "lengths_probe_initial": {"lengths": True, "probe": True, "initial": True},
    "reverse_probe": {"reverse": True, "probe": True},
    "reverse_lengths": {"reverse": True, "lengths": True, "probe": True},
    "remat_lengths_initial": {"remat": True, "lengths": True, "probe": True, "initial": True},
    "remat4_hoist_unroll2": {"remat": 4, "hoist": True, "unroll": 2, "probe": True},
}


def _value_and_grads(cell, params, xs, options, weight_gradients):
    batch, seq_len, _ = xs.shape
    lengths = jnp.array([seq_len, 5, 9])[:batch] if options.get("lengths") else None
    hidden = cell.hidden(cell.initial_carry(params, (batch,))).shape[-1]
    probe = jnp.zeros((seq_len, batch, hidden)) if options.get("probe") else None
    initial = (jax.tree.map(lambda a: a + 0.1, cell.initial_carry(params, (batch,)))
               if options.get("initial") else None)
    run = {k: options[k] for k in ("reverse", "remat", "hoist", "unroll") if k in options}

    def loss(params, xs, probe, initial):
        final, hs = unroll(cell, params, xs, lengths=lengths, probe=probe, initial_carry=initial,
                           weight_gradients=weight_gradients, **run)
        return jnp.sum(jnp.sin(hs)) + sum(jnp.sum(leaf ** 2) for leaf in jax.tree.leaves(final))

    return jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(params, xs, probe, initial)


def _cases():
    """Every option for lstm (all gates additive) and gru (two of three); for the others, the
    option sets other than lengths+probe+initial run in the slow set (budget)."""
    for name, cell_options in SPLIT:
        for label, options in OPTIONS.items():
            slow = name not in ("lstm", "gru") and label != "lengths_probe_initial"
            yield pytest.param(name, cell_options, options, id=f"{name}-{label}",
                               marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("name,cell_options,options", list(_cases()))
def test_one_matmul_equals_autodiff(name, cell_options, options, key):
    cell = cells.get(name, **cell_options)
    k_p, k_x = jax.random.split(key)
    params = cell.init(k_p, 2, 6)
    if "b_hh" in params:  # make the biases that stay in the step matter
        params = {**params, "b_hh": params["b_hh"] + 0.3}
    xs = jax.random.normal(k_x, (3, 13, 2))
    (value, grads), (ref_value, ref_grads) = (
        _value_and_grads(cell, params, xs, options, path) for path in ("one_matmul", "per_step"))
    assert_close(value, ref_value)
    assert jax.tree.structure(grads) == jax.tree.structure(ref_grads)
    jax.tree.map(assert_close, grads, ref_grads)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_one_matmul_under_vmap_over_seeds_equals_each_seed(name, key):
    """Parameters and data batched over seeds, as the runner does: each seed's gradients equal
    autodiff's for that seed alone."""
    cell = cells.get(name)
    seeds = 3
    params = jax.vmap(lambda k: cell.init(k, 2, 6))(jax.random.split(key, seeds))
    xs = jax.random.normal(jax.random.fold_in(key, 1), (seeds, 4, 11, 2))
    lengths = jnp.array([11, 3, 7, 11])

    def grads(path):
        def loss(params, xs):
            return jnp.sum(unroll(cell, params, xs, lengths=lengths, weight_gradients=path)[1] ** 2)
        return jax.vmap(jax.grad(loss))(params, xs)

    def alone(params, xs):
        return jnp.sum(unroll(cell, params, xs, lengths=lengths, weight_gradients="per_step")[1] ** 2)

    batched = grads("one_matmul")
    for seed in range(seeds):
        reference = jax.grad(alone)(jax.tree.map(lambda a, s=seed: a[s], params), xs[seed])
        jax.tree.map(lambda b, a, s=seed: assert_close(b[s], a), batched, reference)


def test_the_rule_picks_one_matmul_only_where_it_applies():
    lstm = cells.get("lstm")
    assert choose_weight_gradients(lstm, 128, 32, backend=CPU) is WeightGradients.ONE_MATMUL
    assert choose_weight_gradients(lstm, ONE_MATMUL_FROM_HIDDEN - 1, 32, backend=CPU) is WeightGradients.PER_STEP
    assert choose_weight_gradients(lstm, PER_STEP_UP_TO_HIDDEN, PER_STEP_FROM_BATCH, backend=CPU) is WeightGradients.PER_STEP
    assert choose_weight_gradients(lstm, 2 * PER_STEP_UP_TO_HIDDEN, PER_STEP_FROM_BATCH, backend=CPU) is WeightGradients.ONE_MATMUL
    rnn = cells.get("rnn")  # one gate: the one-matmul path won at every batch
    assert choose_weight_gradients(rnn, PER_STEP_UP_TO_HIDDEN, PER_STEP_FROM_BATCH, backend=CPU) is WeightGradients.ONE_MATMUL
    assert choose_weight_gradients(lstm, 128, 32, backend="gpu") is WeightGradients.PER_STEP
    for cell in (cells.get("gru", reset_after=False), cells.get("lru"), cells.get("mingru")):
        assert choose_weight_gradients(cell, 8, 4, backend=CPU) is WeightGradients.PER_STEP


@pytest.mark.parametrize("cell,options,match", [
    (("gru", {"reset_after": False}), {}, "applies linear"),
    (("lru", {}), {}, "applies linear"),
    (("lstm", {}), {"weight_gradients": "fused"}, "weight_gradients='fused' is not one of"),
])
def test_bad_weight_gradients_are_refused_before_tracing(cell, options, match, key):
    cell = cells.get(cell[0], **cell[1])
    params = cell.init(key, 2, 4)
    options = {"weight_gradients": "one_matmul", **options}
    with pytest.raises(ValueError, match=match):
        unroll(cell, params, jnp.zeros((2, 5, 2)), **options)


@pytest.mark.parametrize("name", ["lstm", "gru", "exprnn"])
def test_one_matmul_gradients_match_central_finite_differences(name, key):
    """float64, with lengths and reverse: the custom VJP against the loss itself."""
    with enable_x64():
        cell = cells.get(name)
        k_p, k_x = jax.random.split(key)
        params = jax.tree.map(lambda a: a.astype(jnp.float64), cell.init(k_p, 3, 4))
        xs = jax.random.normal(k_x, (2, 6, 3), jnp.float64)
        lengths = jnp.array([6, 4])

        def loss(p, x):
            return jnp.sum(jnp.sin(unroll(cell, p, x, lengths=lengths, reverse=True, weight_gradients="one_matmul")[1]))

        assert_gradients_match_finite_differences(loss, params, xs)

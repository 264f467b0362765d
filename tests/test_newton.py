"""``unroll(..., mode="newton")`` against the sequential loop.

Outputs, final carries and gradients (through the parallel adjoint recurrence) equal the
sequential loop's to 1e-10 in float64 (relative to a value's scale where it is above 1) for rnn, lstm and gru with every method, with
lengths, reverse, an initial carry and probes; finite differences agree; vmap over seeds,
SequenceModel and the runner give the sequential results; non-convergence is NaN, reported.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import SequenceModel, cells, tasks, unroll
from rnn_jax.runner import run
from rnn_jax.training import TrainConfig, make_train, model_for
from rnn_jax.optimizer import Optax
from rnn_jax.unroll import Newton, Options
from rnn_jax.unroll.newton import solve

from .conftest import assert_gradients_match_finite_differences

FLOAT32_TOL = 2e-5  # float32: outputs and gradients within this of the sequential loop (measured ~1e-7)


def _setup(name, dtype, batch=2, steps=12, hidden=5):
    cell = cells.get(name)
    params = jax.tree.map(lambda a: a.astype(dtype), cell.init(jax.random.key(0), 3, hidden))
    xs = jax.random.normal(jax.random.key(1), (batch, steps, 3), dtype)
    return cell, params, xs


def _max_diff(a, b):
    """The largest difference of two pytrees, relative to each leaf's scale when above 1."""
    return max(float(jnp.max(jnp.abs(x - y)) / max(1.0, float(jnp.max(jnp.abs(y)))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


CASES = {
    "plain": {},
    "lengths_reverse": {"lengths": np.array([12, 7]), "reverse": True},
    "lengths_carry_probe": {"lengths": np.array([5, 12]), "initial_carry": True, "probe": True},
}


def _call(cell, params, xs, case, mode, newton=None):
    kw = dict(CASES[case])
    carry = cell.initial_carry(params, (2,))
    if kw.pop("initial_carry", False):
        kw["initial_carry"] = jax.tree.map(lambda c: 0.3 * jnp.ones_like(c), carry)
    probe = kw.pop("probe", False)

    def loss(params, xs, probe_values):
        final, hs = unroll(cell, params, xs, mode=mode, probe=probe_values, **kw, **({"newton": newton} if newton else {}))
        return jnp.sum(jnp.sin(hs)) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(final)), (final, hs)

    probe_values = jnp.zeros((xs.shape[1], 2, params["w_hh"].shape[-1]), xs.dtype) if probe else None
    grad = jax.value_and_grad(loss, argnums=(0, 1, 2) if probe else (0, 1), has_aux=True)
    (value, outputs), grads = jax.jit(grad)(params, xs, probe_values)
    return outputs, grads


@pytest.mark.parametrize("name, method", [pytest.param("rnn", "full", marks=pytest.mark.slow), ("lstm", "full"),
                                          pytest.param("gru", "full", marks=pytest.mark.slow), ("lstm", "diagonal"),
                                          ("gru", "damped"), ("rnn", "quasi_elk")])  # slow ones: 8-10 s each
def test_equals_the_sequential_loop_in_float64(name, method):
    with jax.enable_x64(True):
        cell, params, xs = _setup(name, jnp.float64)
        for case in CASES:
            want, want_grads = _call(cell, params, xs, case, "sequential")
            # a damped step converges linearly: its last change understates the error, so stop 100x sooner
            tol = 1e-12 if method in ("damped", "quasi_elk") else None
            got, got_grads = _call(cell, params, xs, case, "newton", Newton(method, tol=tol))
            assert _max_diff(want, got) < 1e-10, case
            assert _max_diff(want_grads, got_grads) < 1e-10, case  # incl. the probes' dL/dh_t


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_equals_the_sequential_loop_in_float32(name):
    cell, params, xs = _setup(name, jnp.float32, steps=30, hidden=8)
    for case in ("lengths_carry_probe",):
        want, want_grads = _call(cell, params, xs, case, "sequential")
        got, got_grads = _call(cell, params, xs, case, "newton")
        assert _max_diff(want, got) < FLOAT32_TOL and _max_diff(want_grads, got_grads) < FLOAT32_TOL, case


def test_gradients_match_finite_differences_in_float64():
    with jax.enable_x64(True):
        cell, params, xs = _setup("gru", jnp.float64, steps=6, hidden=3)
        loss = jax.jit(lambda p, x: jnp.sum(unroll(cell, p, x, mode="newton")[1] ** 2))  # noqa: E731
        assert_gradients_match_finite_differences(loss, params, xs)


def test_vmap_over_seeds_equals_each_seed():
    cell = cells.get("lstm")
    params = jax.vmap(lambda k: cell.init(k, 3, 6))(jax.random.split(jax.random.key(0), 3))
    xs = jax.random.normal(jax.random.key(1), (4, 20, 3))
    batched = jax.jit(jax.vmap(lambda p: unroll(cell, p, xs, mode="newton")))(params)
    for k in range(3):
        single = unroll(cell, jax.tree.map(lambda a, k=k: a[k], params), xs, mode="sequential")
        assert _max_diff(jax.tree.map(lambda a, k=k: a[k], batched), single) < FLOAT32_TOL


def test_the_quasi_elk_step_is_the_kalman_filter_and_without_trust_quasi_deer():
    from rnn_jax.unroll.newton import _linear_states, kalman_filtered_states

    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        a, b, observed = (rng.normal(size=(30, 2, 3)) * scale for scale in (1.5, 1.0, 1.0))
        s0 = rng.normal(size=(2, 3))
        for lm_lambda in (0.3, 5.0):
            mean, variance, want = s0, np.zeros_like(s0), []
            for t in range(30):  # the textbook filter, one step at a time
                mean, variance = a[t] * mean + b[t], a[t] ** 2 * variance + 1.0
                gain = variance / (variance + 1.0 / lm_lambda)
                mean, variance = mean + gain * (observed[t] - mean), (1.0 - gain) * variance
                want.append(mean)
            got = kalman_filtered_states(*map(jnp.asarray, (a, b, s0, observed)), lm_lambda)
            np.testing.assert_allclose(got, np.stack(want), rtol=1e-10, atol=1e-12)
        deer = _linear_states(jnp.asarray(a), jnp.asarray(b), jnp.asarray(s0), diagonal=True)
        np.testing.assert_allclose(kalman_filtered_states(*map(jnp.asarray, (a, b, s0, observed)), 0.0), deer,
                                   rtol=1e-12)


def test_iterations_residual_warm_start_and_non_convergence_are_reported():
    with jax.enable_x64(True):
        cell, params, xs = _setup("rnn", jnp.float64, steps=40)
        xs_t, carry = jnp.moveaxis(xs, 1, 0), cell.initial_carry(params, (2,))
        _, hs, info, states = solve(cell, params, xs_t, carry)
        assert bool(info.converged) and 1 < int(info.iterations) <= 41 and float(info.residual) < 1e-12
        _, _, warm, _ = solve(cell, params, xs_t, carry, guess=states)  # from the answer: one iteration
        assert int(warm.iterations) == 1
        _, hs_short, short, _ = solve(cell, params, xs_t, carry, newton=Newton(max_iter=1))
        assert not bool(short.converged) and int(short.iterations) == 1
        assert bool(jnp.all(jnp.isnan(hs_short)))  # never silent: the unconverged trajectory is NaN


def test_a_stacked_bidirectional_sequence_model_with_lengths():
    newton_model = SequenceModel("gru", (6, 4), output_size=1, bidirectional=True, loop=Options(mode="newton"))
    sequential = SequenceModel("gru", (6, 4), output_size=1, bidirectional=True, loop=Options(mode="sequential"))
    params = sequential.init(jax.random.key(0), 2)
    xs, lengths = jax.random.normal(jax.random.key(1), (3, 15, 2)), jnp.array([15, 9, 4])
    np.testing.assert_allclose(jax.jit(newton_model.apply)(params, xs, lengths), sequential.apply(params, xs, lengths),
                               atol=FLOAT32_TOL)


@pytest.mark.slow  # ~20 s on 2 cores; CI runs `pytest -m slow` on every submission
@pytest.mark.usefixtures("standard_dtype_promotion")
def test_through_the_runner_seed_k_equals_the_sequential_single_run():
    task = tasks.get("adding", seq_len=10, eval_size=16)
    cfg = lambda mode: TrainConfig(model=model_for(task, "lstm", 4, loop=Options(mode=mode)), task=task, steps=4,  # noqa: E731
                                   batch_size=4, eval_every=2, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("sgd", learning_rate=0.1)))
    result = run(cfg("newton"), seeds=2, progress=False, diagnose_at=())
    for k in range(2):
        state, history = jax.jit(make_train(cfg("sequential")))(jax.random.key(k), {"learning_rate": jnp.float32(0.1)})
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], result.state.params), state.params,
                                    atol=FLOAT32_TOL)


def test_bad_newton_options_are_refused_before_tracing():
    cell, params, xs = _setup("rnn", jnp.float32)
    with pytest.raises(ValueError, match="method"):
        Newton("bogus")
    with pytest.raises(ValueError, match="damping"):
        Newton("damped", damping=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        Newton(max_iter=0)
    with pytest.raises(ValueError, match="lm_lambda"):
        Newton("quasi_elk", lm_lambda=-1.0)
    with pytest.raises(ValueError, match="remat"):
        unroll(cell, params, xs, mode="newton", remat=True)
    with pytest.raises(ValueError, match="option of mode='newton'"):
        unroll(cell, params, xs, mode="sequential", newton=Newton())
    with pytest.raises(ValueError, match="one_matmul"):
        unroll(cell, params, xs, mode="newton", weight_gradients="one_matmul")

"""The remedies beyond gating: exprnn, lru, mingru, minlstm, and the parallel mode of ``unroll``.

The sequential-mode contract tests (Python loop, masked == trimmed, reverse, probe, finite
differences) run for these cells in ``test_unroll.py``; here: their equations against
hand-written NumPy, their initialisations, and the parallel mode against the sequential one.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import enable_x64

from rnn_jax import SequenceModel, cells, unroll
from rnn_jax.cells.exprnn import orthogonal_from_skew
from rnn_jax.cells.lru import eigenvalues
from rnn_jax.unroll import PARALLEL_FROM_STEPS, Mode, choose_mode

LINEAR = [("lru", {}), ("mingru", {}), ("minlstm", {}), ("mingru", {"log_space": False}),
          ("minlstm", {"log_space": False}), ("lru", {"normalize": False})]
IDS = ["lru", "mingru", "minlstm", "mingru_plain", "minlstm_plain", "lru_no_gamma"]

# float32: the two modes sum the same terms in a different order (a tree instead of a chain),
# so they agree to a few float32 roundings of the largest term summed: measured differences
# are below 1e-6 of each array's largest value; the tolerance, 1e-5 of it, leaves 10x margin.
RTOL, ATOL = 1e-5, 1e-5


def assert_close(actual, desired):
    """Within RTOL, or ATOL times the array's largest magnitude (sums of large terms)."""
    scale = max(1.0, float(np.max(np.abs(desired)))) if np.size(desired) else 1.0
    np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=ATOL * scale)


def _setup(name, options, key, batch=4, seq_len=40, input_size=3, hidden=8, dtype=jnp.float32):
    cell = cells.get(name, **options)
    k_p, k_x = jax.random.split(key)
    params = jax.tree.map(lambda a: a.astype(dtype), cell.init(k_p, input_size, hidden))
    return cell, params, jax.random.normal(k_x, (batch, seq_len, input_size), dtype)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- the equations, by hand --------------------------------------------------------------------


def test_lru_step_is_the_papers_complex_recurrence(key):
    cell, params, xs = _setup("lru", {}, key, seq_len=5)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    n = p["nu_log"].shape[0]
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    b = (p["w_ih"][:n] + 1j * p["w_ih"][n : 2 * n]) * np.exp(p["gamma_log"])[:, None]
    c = p["c_re"] + 1j * p["c_im"]
    s, ys = np.zeros((4, n), complex), []
    for t in range(5):
        u = np.asarray(xs[:, t], np.float64)
        s = lam * s + u @ b.T
        ys.append((s @ c.T).real + u @ p["w_ih"][2 * n :].T)
    final, hs = unroll(cell, params, xs)
    np.testing.assert_allclose(hs, np.stack(ys, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(final, np.concatenate([s.real, s.imag], -1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("log_space", [True, False])
def test_mingru_and_minlstm_steps_are_the_papers(log_space, key):
    def candidate(x):
        return np.where(x >= 0, x + 0.5, _sigmoid(x)) if log_space else x

    for name, gates in (("mingru", 2), ("minlstm", 3)):
        cell, params, xs = _setup(name, {"log_space": log_space}, key, seq_len=6)
        w, bias = np.asarray(params["w_ih"], np.float64), np.asarray(params["b_ih"], np.float64)
        h = np.zeros((4, 8))
        for t in range(6):
            k = np.split(np.asarray(xs[:, t], np.float64) @ w.T + bias, gates, axis=-1)
            if name == "mingru":
                z = _sigmoid(k[0])
                h = (1 - z) * h + z * candidate(k[1])
            else:
                f, i = _sigmoid(k[0]), _sigmoid(k[1])
                h = f / (f + i) * h + i / (f + i) * candidate(k[2])
        final, _ = unroll(cell, params, xs)
        np.testing.assert_allclose(final, h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_log_coefficients_are_the_logs_of_the_coefficients(name, key):
    cell, params, xs = _setup(name, {}, key)
    x_proj = cell.project_inputs(params, 4.0 * xs)  # large logits too
    a, b = cell.linear_recurrence.coefficients(params, x_proj)
    log_a, log_b = cell.linear_recurrence.log_coefficients(params, x_proj)
    assert bool(jnp.all(b > 0))  # g keeps the candidate positive
    np.testing.assert_allclose(jnp.exp(log_a), a, rtol=1e-5)
    np.testing.assert_allclose(jnp.exp(log_b), b, rtol=1e-5)


def test_exprnn_step_is_modrelu_of_an_orthogonal_map(key):
    cell, params, xs = _setup("exprnn", {}, key, seq_len=4)
    w_hh = np.asarray(jax.scipy.linalg.expm(np.asarray(params["a"] - params["a"].T, np.float64)))
    h = np.zeros((4, 8))
    for t in range(4):
        z = np.asarray(xs[:, t], np.float64) @ np.asarray(params["w_ih"], np.float64).T + h @ w_hh.T
        h = np.sign(z) * np.maximum(np.abs(z) + np.asarray(params["b"], np.float64), 0)
    np.testing.assert_allclose(unroll(cell, params, xs)[0], h, rtol=1e-4, atol=1e-5)


# --- initialisation -----------------------------------------------------------------------------


def test_lru_eigenvalues_lie_in_the_ring_and_gamma_normalises(key):
    cell = cells.get("lru", r_min=0.4, r_max=0.9, max_phase=math.pi / 10)
    params = cell.init(key, 3, 2048)
    lam = np.asarray(eigenvalues(params))
    assert lam.shape == (1024,)
    assert np.all((np.abs(lam) >= 0.4 - 1e-6) & (np.abs(lam) <= 0.9 + 1e-6))
    assert np.all((np.angle(lam) >= 0) & (np.angle(lam) <= math.pi / 10 + 1e-6))
    # |λ|² is uniform on [r_min², r_max²] (uniform on the ring's area): its mean is the midpoint
    assert abs(np.mean(np.abs(lam) ** 2) - (0.16 + 0.81) / 2) < 4 * (0.81 - 0.16) / math.sqrt(12 * 1024)
    np.testing.assert_allclose(np.exp(params["gamma_log"]), np.sqrt(1 - np.abs(lam) ** 2), rtol=1e-5)
    with pytest.raises(ValueError, match="hidden_size=7 must be even"):
        cell.init(key, 3, 7)


@pytest.mark.parametrize("init", ["henaff", "cayley"])
def test_exprnn_stays_orthogonal_after_many_optimiser_steps(init, key):
    """W_hh = expm(A - Aᵀ) for whatever A the optimiser produces: 300 Adam steps at lr 0.05 on
    a loss that pulls the hidden state around leave ‖W_hhᵀW_hh - I‖_max at float32 rounding."""
    cell, params, xs = _setup("exprnn", {"init": init}, key, seq_len=20, hidden=32)
    target = jax.random.normal(jax.random.key(7), (4, 20, 32))
    tx = optax.adam(0.05)

    @jax.jit
    def update(params, opt_state):
        grads = jax.grad(lambda p: jnp.mean((unroll(cell, p, xs)[1] - target) ** 2))(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    initial = cell.hooks.recurrent_matrix(params)
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(np.asarray(initial))), 1.0, atol=1e-5)
    state = (params, tx.init(params))
    with jax.numpy_dtype_promotion("standard"):  # optax's bias correction mixes int and float
        for _ in range(300):
            state = update(*state)
    w = cell.hooks.recurrent_matrix(state[0])
    assert float(jnp.max(jnp.abs(state[0]["a"] - params["a"]))) > 0.5  # A really moved
    assert float(jnp.max(jnp.abs(w.T @ w - jnp.eye(32)))) < 1e-5


# --- the parallel mode --------------------------------------------------------------------------


def _run_and_grads(cell, params, xs, mode, lengths=None, reverse=False, carry=None, probe=None):
    def loss(p, x, c, q):
        final, hs = unroll(cell, p, x, lengths=lengths, reverse=reverse, initial_carry=c, probe=q, mode=mode)
        return jnp.sum(jnp.sin(hs)) + jnp.sum(jnp.tanh(final)), (final, hs)

    (_, outputs), grads = jax.value_and_grad(loss, argnums=(0, 1, 2, 3), has_aux=True)(params, xs, carry, probe)
    return outputs, grads


@pytest.mark.parametrize("spec", [pytest.param(spec, marks=pytest.mark.slow) if name in ("mingru", "minlstm") else spec
                                  for spec, name in zip(LINEAR, IDS)], ids=IDS)  # mingru, minlstm: 14 s, slow; lru and mingru_plain stay
def test_parallel_equals_sequential_values_and_gradients(spec, key):
    """Outputs, final carries and gradients (parameters, inputs, initial carry, probe) agree with
    lengths, reverse (with and without lengths), an initial carry and the probe. With
    ``test_unroll``'s masked == trimmed for the sequential mode, the parallel mode's padded
    sequences equal the trimmed ones too."""
    cell, params, xs = _setup(*spec, key)
    lengths = jnp.array([40, 17, 1, 33])
    carry = 0.5 * jax.random.uniform(jax.random.key(3), (4, 8))  # ≥ 0: the log-space cells' states are
    probe = jnp.zeros((40, 4, 8))
    for kw in ({"lengths": lengths}, {"reverse": True},
               {"carry": carry, "probe": probe, "lengths": lengths, "reverse": True},
               {"carry": -carry, "probe": probe, "reverse": True}):
        seq = _run_and_grads(cell, params, xs, "sequential", **kw)
        par = _run_and_grads(cell, params, xs, "parallel", **kw)
        jax.tree.map(assert_close, par, seq)


@pytest.mark.parametrize("spec", LINEAR[:2], ids=IDS[:2])
def test_parallel_gradients_match_central_finite_differences(spec, key):
    with enable_x64():
        cell, params, xs = _setup(*spec, key, batch=2, seq_len=7, dtype=jnp.float64)
        lengths = jnp.array([7, 4])

        def loss(p, x):
            _, hs = unroll(cell, p, x, lengths=lengths, reverse=True, mode="parallel")
            return jnp.sum(jnp.sin(hs))

        grads = jax.grad(loss, argnums=(0, 1))(params, xs)
        rng = np.random.default_rng(0)
        eps = 1e-6
        for _ in range(3):
            dp = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape)), params)
            dx = jnp.asarray(rng.standard_normal(xs.shape))
            plus = loss(jax.tree.map(lambda a, d: a + eps * d, params, dp), xs + eps * dx)
            minus = loss(jax.tree.map(lambda a, d: a - eps * d, params, dp), xs - eps * dx)
            analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(dp)))
            np.testing.assert_allclose(analytic + jnp.vdot(grads[1], dx), (plus - minus) / (2 * eps),
                                       rtol=1e-6, atol=1e-8)


def test_parallel_mode_under_vmap_over_seeds_equals_each_seed(key):
    cell = cells.get("minlstm")
    stacked = jax.vmap(lambda k: cell.init(k, 3, 8))(jax.random.split(key, 3))
    xs = jax.random.normal(jax.random.key(1), (4, 30, 3))
    hs = jax.vmap(lambda p: unroll(cell, p, xs, mode="parallel")[1])(stacked)
    for s in range(3):
        one = unroll(cell, jax.tree.map(lambda a, s=s: a[s], stacked), xs, mode="sequential")[1]
        assert_close(hs[s], one)


def test_auto_mode_rule_and_refusals(key):
    lru, gru = cells.get("lru"), cells.get("gru")
    assert choose_mode(lru, 4096, backend="cpu") is Mode.SEQUENTIAL  # measured: parallel loses on CPU
    assert choose_mode(lru, PARALLEL_FROM_STEPS, backend="gpu") is Mode.PARALLEL
    assert choose_mode(lru, PARALLEL_FROM_STEPS - 1, backend="gpu") is Mode.SEQUENTIAL
    assert choose_mode(lru, 4096, remat=True, backend="tpu") is Mode.SEQUENTIAL
    assert choose_mode(lru, 4096, unroll=4, backend="gpu") is Mode.SEQUENTIAL
    assert choose_mode(gru, 4096, backend="gpu") is Mode.SEQUENTIAL
    params, xs = gru.init(key, 3, 8), jnp.zeros((2, 5, 3))
    with pytest.raises(ValueError, match="mode='parallel' needs a cell whose recurrence is linear"):
        unroll(gru, params, xs, mode="parallel")
    with pytest.raises(ValueError, match="mode="):
        unroll(gru, params, xs, mode="fast")
    with pytest.raises(ValueError, match="options of mode='sequential'"):
        unroll(lru, lru.init(key, 3, 8), xs, mode="parallel", remat=True)


def test_exprnn_orthogonal_map_is_batched_over_leading_axes(key):
    a = jax.random.normal(key, (3, 6, 6))
    w = orthogonal_from_skew(a)
    np.testing.assert_allclose(jnp.einsum("sji,sjk->sik", w, w), jnp.broadcast_to(jnp.eye(6), (3, 6, 6)), atol=1e-5)


def test_last_readout_is_the_output_at_each_sequences_last_step(key):
    """For the LRU the carry is the state, not the output: the model's "last" readout must
    read the output Re(C s) + D x at length - 1 (forward) and at 0 (backward)."""
    model = SequenceModel("lru", 8, output_size=None, bidirectional=True)
    params = model.init(key, 3)
    xs = jax.random.normal(jax.random.key(1), (3, 7, 3))
    lengths = jnp.array([7, 2, 5])
    features = model.apply(params, xs, lengths)
    cell = cells.get("lru")
    _, forward = unroll(cell, params["layers"][0]["fwd"], xs, lengths=lengths)
    _, backward = unroll(cell, params["layers"][0]["bwd"], xs, lengths=lengths, reverse=True)
    expected = jnp.concatenate([forward[jnp.arange(3), lengths - 1], backward[:, 0]], axis=-1)
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-6)

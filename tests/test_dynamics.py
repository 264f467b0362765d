"""``dynamics.lyapunov_spectrum`` against exact answers.

A linear recurrence with W = diag(d) has exponents log|d_i|; a tanh RNN held at h = 0 (zero
input and biases, tanh'(0) = 1) with a symmetric (normal) W has log|eig(W)|; finite
differences of the exponents in float64 agree with autodiff (gradient flossing trains
through them); jit and vmap over seeds; a tuple carry (LSTM) gives one exponent per state
coordinate, sorted.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells
from rnn_jax.analysis.dynamics import lyapunov_spectrum
from rnn_jax.cells.base import Cell

from .conftest import assert_gradients_match_finite_differences

D = np.array([0.9, -0.7, 0.5, 0.3, -0.2, 0.1])


def _diagonal_linear() -> Cell:
    def step(params, s, x):
        s = params["d"] * s + x
        return s, s

    return Cell(name="diagonal_linear", init=lambda key, i, h: {"d": jnp.asarray(D, jnp.float32)},
                initial_carry=lambda params, batch_shape: jnp.zeros((*batch_shape, params["d"].shape[0])),
                project_inputs=lambda params, xs: xs, step=step)


def test_a_diagonal_linear_recurrence_has_exponents_log_abs_d():
    cell = _diagonal_linear()
    xs = jax.random.normal(jax.random.key(0), (2, 300, D.size))  # inputs do not move a linear map's exponents
    got = lyapunov_spectrum(cell, cell.init(None, D.size, D.size), xs, frame_warmup=50)
    np.testing.assert_allclose(got, np.broadcast_to(np.sort(np.log(np.abs(D)))[::-1], (2, D.size)), atol=1e-5)
    top = lyapunov_spectrum(cell, cell.init(None, D.size, D.size), xs, num=2, frame_warmup=50)
    np.testing.assert_allclose(top, got[:, :2], atol=1e-6)


def test_a_tanh_rnn_at_rest_with_a_normal_w_has_exponents_log_abs_eig():
    with jax.enable_x64(True):
        cell = cells.get("rnn")
        q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))
        w = q @ np.diag(D) @ q.T  # symmetric: normal, eigenvalues D
        params = {k: jnp.zeros_like(v, jnp.float64) for k, v in cell.init(jax.random.key(0), 2, 6).items()}
        params["w_hh"] = jnp.asarray(w)
        got = lyapunov_spectrum(cell, params, jnp.zeros((1, 400, 2)), frame_warmup=100)
        np.testing.assert_allclose(got[0], np.sort(np.log(np.abs(D)))[::-1], atol=1e-10)


def test_exponents_are_differentiable_and_match_finite_differences_in_float64():
    with jax.enable_x64(True):
        cell = cells.get("rnn")
        params = jax.tree.map(lambda a: a.astype(jnp.float64), cell.init(jax.random.key(0), 2, 4))
        xs = jax.random.normal(jax.random.key(1), (2, 30, 2), jnp.float64)
        loss = jax.jit(lambda p, x: jnp.sum(lyapunov_spectrum(cell, p, x, num=3, frame_warmup=5) ** 2))
        assert_gradients_match_finite_differences(loss, params, xs, eps=1e-7)  # curved: O(eps²) needs a small eps


def test_vmap_over_seeds_and_a_tuple_carry():
    cell = cells.get("lstm")
    params = jax.vmap(lambda k: cell.init(k, 2, 5))(jax.random.split(jax.random.key(0), 3))
    xs = jax.random.normal(jax.random.key(1), (4, 60, 2))
    batched = jax.jit(jax.vmap(lambda p: lyapunov_spectrum(cell, p, xs, frame_warmup=10)))(params)
    assert batched.shape == (3, 4, 10)  # (h, c): 2 × 5 coordinates
    assert bool(jnp.all(batched[..., :-1] >= batched[..., 1:]))  # descending
    for k in (0, 2):
        single = lyapunov_spectrum(cell, jax.tree.map(lambda a, k=k: a[k], params), xs, frame_warmup=10)
        np.testing.assert_allclose(batched[k], single, rtol=1e-4)  # float32 QR of strongly contracting directions


def test_bad_arguments_are_refused_before_tracing():
    cell = cells.get("rnn")
    params = cell.init(jax.random.key(0), 2, 4)
    xs = jnp.zeros((1, 10, 2))
    with pytest.raises(ValueError, match="num=5 exceeds the state's size 4"):
        lyapunov_spectrum(cell, params, xs, num=5)
    with pytest.raises(ValueError, match="leaves no step"):
        lyapunov_spectrum(cell, params, xs, state_warmup=5, frame_warmup=5)
    with pytest.raises(ValueError, match=r"non-finite value at index \(0, 3, 1\)"):
        lyapunov_spectrum(cell, params, xs.at[0, 3, 1].set(jnp.inf))
    stateless = Cell(name="stateless", init=cell.init, initial_carry=lambda p, batch_shape: jnp.zeros((*batch_shape, 0)),
                     project_inputs=cell.project_inputs, step=lambda p, carry, x: (carry, x))
    with pytest.raises(ValueError, match="'stateless' has no state"):
        lyapunov_spectrum(stateless, params, xs)


def test_an_orthogonal_linear_cell_has_every_exponent_zero():
    """exprnn with b = 0 is h <- W h + U x with W = expm(A - Aᵀ) orthogonal (built by its prepare
    hook, as unroll builds it): every exponent is log 1 = 0."""
    cell = cells.get("exprnn")
    params = {**cell.init(jax.random.key(0), 2, 6), "b": jnp.zeros(6)}
    params["a"] = jax.random.normal(jax.random.key(3), (6, 6))
    exponents = lyapunov_spectrum(cell, params, jax.random.normal(jax.random.key(1), (2, 50, 2)))
    np.testing.assert_allclose(exponents, 0.0, atol=1e-5)

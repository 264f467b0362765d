"""The mean-field timescale of a tanh RNN against the gradients of wide random networks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, unroll
from rnn_jax.analysis import mean_field


def test_without_bias_the_fixed_point_is_zero_below_one():
    for sigma_w in (0.5, 0.9):
        mf = mean_field.tanh_rnn(sigma_w)
        assert mf.q < 1e-8 and math.isclose(mf.chi, sigma_w**2, rel_tol=1e-6)
        assert math.isclose(mf.xi, -1 / math.log(sigma_w**2), rel_tol=1e-6)
    assert mean_field.tanh_rnn(2.0).xi < 0  # chaotic: the gradient explodes
    with pytest.raises(ValueError, match="sigma_w"):
        mean_field.tanh_rnn(0.0)
    with pytest.raises(ValueError, match="sigma_b"):
        mean_field.tanh_rnn(1.0, -0.1)


@pytest.mark.parametrize("sigma_w, sigma_b", [(0.8, 0.0), (0.8, 0.3), (1.5, 0.3), (2.5, 0.5)])
def test_chi_is_the_per_step_factor_of_the_gradient_of_a_wide_network(sigma_w, sigma_b):
    """N = 1000, after 40 steps towards the fixed point: the mean of log(‖∂L/∂h_t‖² /
    ‖∂L/∂h_{t+1}‖²) over 40 steps is log χ to 0.05 (measured: within 0.03)."""
    cell, n, warm, steps = cells.get("rnn"), 1000, 40, 40
    k_w, k_b, k_h, k_r = jax.random.split(jax.random.key(0), 4)
    params = {**jax.tree.map(jnp.zeros_like, cell.init(k_w, 1, n)),
              "w_hh": sigma_w * jax.random.normal(k_w, (n, n)) / np.sqrt(n), "b_hh": sigma_b * jax.random.normal(k_b, (n,))}
    xs, h0, readout = jnp.zeros((1, warm + steps, 1)), jax.random.normal(k_h, (1, n)), jax.random.normal(k_r, (n,))

    def loss(probe):
        final, _ = unroll(cell, params, xs, initial_carry=h0, probe=probe)
        return final[0] @ readout

    grads = jax.grad(loss)(jnp.zeros((warm + steps, 1, n)))
    squared = np.asarray(jnp.sum(grads[warm:-1, 0] ** 2, axis=-1), np.float64)
    measured = -np.mean(np.diff(np.log(squared)))
    assert abs(measured - math.log(mean_field.tanh_rnn(sigma_w, sigma_b).chi)) < 0.05

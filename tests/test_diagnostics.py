"""Diagnostics against brute-force computations on tiny models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, diagnostics, tasks
from rnn_jax.training import model_for

TASK = tasks.get("adding", seq_len=7)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_hidden_grad_norms_equal_per_sequence_python_loop(cell, key):
    model = model_for(TASK, cell, 5)
    params = model.init(key, 2)
    batch = TASK.sample(jax.random.key(1), 3)
    got = diagnostics.hidden_grad_norms(model, params, batch, TASK)
    c, p, head = model.cell_fn, params["layers"][0]["fwd"], params["head"]

    def sequence_loss(eps, b):  # the loss of sequence b with eps[t] added to h_t, step by step
        carry = c.initial_carry(p, ())
        for t in range(7):
            carry, h = c.step(p, carry, c.project_inputs(p, batch.inputs[b, t]))
            carry = (h + eps[t], *carry[1:]) if isinstance(carry, tuple) else h + eps[t]  # lstm: (h, c)
        out = head["w"] @ c.hidden(carry) + head["b"]
        return jnp.sum((out - batch.targets[b]) ** 2)

    expected = np.mean([np.linalg.norm(jax.grad(sequence_loss)(jnp.zeros((7, 5)), b), axis=-1) for b in range(3)], axis=0)
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_jacobian_norms_equal_product_of_step_jacobians(cell, key):
    c = cells.get(cell)
    p = c.init(key, 2, 4)
    xs = jax.random.normal(jax.random.key(2), (2, 6, 2))
    got = diagnostics.jacobian_norms(c, p, xs)
    frob = diagnostics.jacobian_norms(c, p, xs, norm="frobenius")
    singular = diagnostics.jacobian_singular_values(c, p, xs, top=3)
    flat = lambda carry: jnp.concatenate([jnp.ravel(a) for a in jax.tree.leaves(carry)])  # noqa: E731
    spectral, frobenius, all_singular = np.zeros((2, 6)), np.zeros((2, 6)), np.zeros((2, 6, 3))
    for b in range(2):
        carry = c.initial_carry(p, ())
        carries, steps = [], []
        for t in range(6):
            x = c.project_inputs(p, xs[b, t])
            steps.append((carry, x))
            carry, _ = c.step(p, carry, x)
            carries.append(carry)
        structure = jax.tree.structure(carry)
        size = flat(carry).size
        unflat = lambda v: jax.tree.unflatten(structure, jnp.split(v, len(jax.tree.leaves(carry))))  # noqa: E731
        # d carry_T / d carry_t as a product of one-step Jacobians; then the h rows and h columns
        product = np.eye(size)
        for t in range(5, -1, -1):
            # column block for h_t: J = d carry_T / d h_t (c_t held fixed) = product[:, h]
            j_h = product[: 4, :4] if cell == "lstm" else product
            all_singular[b, t] = np.linalg.svd(j_h, compute_uv=False)[:3]
            spectral[b, t] = all_singular[b, t, 0]
            frobenius[b, t] = np.linalg.norm(j_h)
            if t > 0:
                prev, x = steps[t]
                step_jac = jax.jacobian(lambda v, x=x: flat(c.step(p, unflat(v), x)[0]))(flat(prev))
                product = product @ np.asarray(step_jac)
    np.testing.assert_allclose(got, spectral.mean(0), rtol=1e-4)
    np.testing.assert_allclose(frob, frobenius.mean(0), rtol=1e-4)
    np.testing.assert_allclose(singular, all_singular.mean(0), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="top=9 exceeds the hidden size 4"):
        diagnostics.jacobian_singular_values(c, p, xs, top=9)
    np.testing.assert_allclose(got[-1], 1.0, rtol=1e-6)  # d h_T / d h_T = I


def test_spectral_norm_matches_svd_across_scales():
    m = jax.random.normal(jax.random.key(3), (30, 16, 16)) * jnp.logspace(-20, 1, 30)[:, None, None]
    expected = np.linalg.svd(np.asarray(m, np.float64), compute_uv=False)[:, 0]
    np.testing.assert_allclose(diagnostics.spectral_norm(m), expected, rtol=1e-4)


def test_recurrent_spectra_of_presets(key):
    lstm = cells.get("lstm", init="keras")
    spectra = diagnostics.recurrent_spectra(lstm, lstm.init(key, 3, 16))
    np.testing.assert_allclose(spectra["radius"], 1.0, rtol=1e-5)  # orthogonal blocks
    np.testing.assert_allclose(spectra["singular_values"], 1.0, rtol=1e-5)
    irnn_cell = cells.get("irnn", recurrent_scale=0.9)
    irnn = diagnostics.recurrent_spectra(irnn_cell, irnn_cell.init(key, 3, 8))
    np.testing.assert_allclose(irnn["radius"], [0.9], rtol=1e-6)
    stacked = jax.vmap(lambda k: cells.get("gru").init(k, 3, 8))(jax.random.split(key, 5))
    assert diagnostics.recurrent_spectra(cells.get("gru"), stacked)["singular_values"].shape == (5, 3, 4)


def test_finite_time_lyapunov_is_the_spectrum_averaged_over_the_sequences(key):
    from rnn_jax.analysis import dynamics

    cell = cells.get("lstm")
    params = cell.init(key, 2, 3)
    xs = jax.random.normal(jax.random.key(7), (4, 20, 2))
    got = diagnostics.finite_time_lyapunov(cell, params, xs, top=4)
    each = [dynamics.lyapunov_spectrum(cell, params, xs[b], num=4, state_warmup=5, frame_warmup=5) for b in range(4)]
    np.testing.assert_allclose(got, np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    assert diagnostics.finite_time_lyapunov(cell, params, xs, top=10).shape == (6,)  # all of (h, c)

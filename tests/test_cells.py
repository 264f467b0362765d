"""Cell registry, initialisation presets and their documented statistics."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, unroll
from rnn_jax.cells import base

H, I = 64, 5


def _blocks(w, num_gates):
    return np.split(np.asarray(w), num_gates, axis=0)


@pytest.mark.parametrize("name,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_torch_preset_is_uniform_within_one_over_sqrt_h(name, gates, key):
    params = cells.get(name).init(key, I, H)
    bound = 1 / math.sqrt(H)
    assert set(params) == {"w_ih", "w_hh", "b_ih", "b_hh"}
    assert params["w_ih"].shape == (gates * H, I) and params["w_hh"].shape == (gates * H, H)
    for value in params.values():
        v = np.asarray(value)
        assert np.abs(v).max() <= bound
        # U(-a, a): mean 0, variance a^2/3 (sampling error ~ a^2/3 * sqrt(2/n))
        assert abs(v.mean()) < 4 * bound / math.sqrt(3 * v.size)
        assert abs(v.var() - bound**2 / 3) < 6 * bound**2 / 3 * math.sqrt(2 / v.size)


@pytest.mark.parametrize("name,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_keras_preset(name, gates, key):
    params = cells.get(name, init="keras").init(key, I, H)
    for block in _blocks(params["w_hh"], gates):  # orthogonal per gate
        np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-5)
    limit = math.sqrt(6 / (I + gates * H))  # glorot over the whole [i, G*h] kernel
    assert np.abs(params["w_ih"]).max() <= limit and np.abs(params["w_ih"]).max() > 0.9 * limit
    # single bias except the reset-after GRU (as Keras); zeros except the LSTM forget block
    assert ("b_hh" in params) == (name == "gru")
    expected = np.zeros(gates * H)
    if name == "lstm":
        expected[H : 2 * H] = 1.0
    np.testing.assert_array_equal(params["b_ih"], expected)


def test_irnn_preset(key):
    cell = cells.get("irnn")
    params = cell.init(key, I, 256)
    np.testing.assert_array_equal(params["w_hh"], np.eye(256))
    np.testing.assert_array_equal(params["b_ih"], 0.0)
    np.testing.assert_array_equal(params["b_hh"], 0.0)
    assert abs(float(jnp.std(params["w_ih"])) - 1e-3) < 1e-4  # N(0, 0.001^2)
    # relu: negative pre-activations give exactly zero
    _, h = cell.step(params, jnp.zeros((1, 256)), -jnp.ones((1, 256)))
    np.testing.assert_array_equal(h, 0.0)


def test_linear_rnn_is_the_linear_recurrence(key):
    cell = cells.get("rnn", activation="linear", bias=False)
    params = cell.init(key, I, H)
    assert set(params) == {"w_ih", "w_hh"}
    xs = jax.random.normal(key, (2, 7, I))
    _, ys = unroll(cell, params, xs)
    w_ih, w_hh = np.asarray(params["w_ih"], np.float64), np.asarray(params["w_hh"], np.float64)
    h, expected = np.zeros((2, H)), []
    for t in range(7):
        h = np.asarray(xs[:, t], np.float64) @ w_ih.T + h @ w_hh.T
        expected.append(h)
    np.testing.assert_allclose(ys, np.stack(expected, 1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_arjovsky_preset_is_glorot_per_gate_with_zero_biases(name, gates, key):
    """models.py of Arjovsky et al. 2016: U(±sqrt(6 / (fan_in + h))) per [h, fan_in] gate block,
    zero biases (one bias vector), LSTM forget bias 1."""
    params = cells.get(name, init="arjovsky").init(key, I, H)
    assert set(params) == {"w_ih", "w_hh", "b_ih"}
    for w, fan_in in ((params["w_ih"], I), (params["w_hh"], H)):
        blocks = np.asarray(w).reshape(gates, H, fan_in)
        bound = np.sqrt(6.0 / (fan_in + H))
        assert np.abs(blocks).max() <= bound and np.abs(blocks).max() > 0.8 * bound
        assert not np.array_equal(blocks[0], blocks[-1]) or gates == 1
    expected = np.zeros(gates * H)
    if name == "lstm":
        expected[H:2 * H] = 1.0
    np.testing.assert_array_equal(params["b_ih"], expected)
    irnn = cells.get("irnn", init="arjovsky").init(key, I, H)  # their IRNN: identity W_hh, Glorot input weights
    np.testing.assert_array_equal(irnn["w_hh"], np.eye(H))
    assert np.abs(np.asarray(irnn["w_ih"])).max() > 1e-2


def test_pascanu_preset_is_sparse_with_spectral_radius_095(key):
    """RNN.py of Pascanu et al. 2013, smart_tanh: 15 nonzeros per row of W_hh, radius 0.95."""
    from rnn_jax.cells.initializers import spectral_radius

    params = cells.get("rnn", init="pascanu").init(key, I, 40)
    w = np.asarray(params["w_hh"])
    assert np.all((w != 0).sum(axis=1) == 15) and set(params) == {"w_ih", "w_hh", "b_ih"}
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(w)).max(), 0.95, rtol=2e-3)
    np.testing.assert_array_equal(params["b_ih"], 0.0)
    assert 0.008 < np.asarray(params["w_ih"]).std() < 0.012
    m = np.asarray(jax.random.normal(key, (30, 30))) / 6
    np.testing.assert_allclose(float(spectral_radius(jnp.asarray(m))), np.abs(np.linalg.eigvals(m)).max(), rtol=2e-3)


def test_overrides_forget_bias_scale_and_inits(key):
    lstm = cells.get("lstm", forget_bias=1.0)
    p = lstm.init(key, I, H)
    np.testing.assert_array_equal(p["b_ih"][H : 2 * H], 1.0)
    np.testing.assert_array_equal(p["b_hh"][H : 2 * H], 0.0)  # total forget bias is exactly 1
    p = cells.get("rnn", recurrent_init="orthogonal", recurrent_scale=1.3).init(key, I, H)
    radius = np.max(np.abs(np.linalg.eigvals(np.asarray(p["w_hh"]))))
    np.testing.assert_allclose(radius, 1.3, rtol=1e-4)  # gain == spectral radius for orthogonal
    p = cells.get("gru", recurrent_init="identity", recurrent_scale=0.5, bias=False).init(key, I, H)
    assert set(p) == {"w_ih", "w_hh"}
    for block in _blocks(p["w_hh"], 3):
        np.testing.assert_array_equal(block, 0.5 * np.eye(H))
    # overrides given to init() win over the cell's bound options
    p = cells.get("lstm", forget_bias=1.0).init(key, I, H, forget_bias=2.0)
    np.testing.assert_array_equal(p["b_ih"][H : 2 * H], 2.0)
    # recurrent_scale may be a traced array (swept by a runner without recompiling)
    scaled = jax.jit(lambda s: cells.get("rnn").init(key, I, H, recurrent_scale=s)["w_hh"])(jnp.float32(2.0))
    np.testing.assert_allclose(scaled, 2 * cells.get("rnn").init(key, I, H)["w_hh"], rtol=1e-6)


@pytest.mark.parametrize("name,gates", [("lstm", 4), ("gru", 3)])
def test_chrono_biases_follow_log_uniform_characteristic_times(name, gates, key):
    # Tallec & Ollivier 2018: keep-gate bias b = log(t), t ~ U[1, T_max - 1]; LSTM input bias -b.
    t_max, h = 100.0, 4096
    params = cells.get(name, chrono=t_max).init(key, I, h)
    plain = cells.get(name).init(key, I, h)
    b_ih, b_hh = _blocks(params["b_ih"], gates), _blocks(params["b_hh"], gates)
    times = np.exp(b_ih[1].astype(np.float64))
    assert times.min() >= 1.0 - 1e-5 and times.max() <= t_max - 1.0 + 1e-3
    # U[1, T_max - 1]: Kolmogorov-Smirnov distance below its 0.1% critical value 1.95/sqrt(n)
    grid = np.sort(times)
    cdf = (grid - 1.0) / (t_max - 2.0)
    assert np.max(np.abs(np.arange(1, h + 1) / h - cdf)) < 1.95 / math.sqrt(h)
    np.testing.assert_array_equal(b_hh[1], 0.0)  # the total keep-gate bias is b
    if name == "lstm":
        np.testing.assert_array_equal(b_ih[0], -b_ih[1])
        np.testing.assert_array_equal(b_hh[0], 0.0)
    untouched = [2, 3] if name == "lstm" else [0, 2]  # every other block keeps the preset's draw
    for g in untouched:
        np.testing.assert_array_equal(b_ih[g], _blocks(plain["b_ih"], gates)[g])
    np.testing.assert_array_equal(params["w_hh"], plain["w_hh"])


def test_registry_round_trip_and_custom_cell(key):
    assert {"rnn", "irnn", "lstm", "gru"} <= set(cells.available())
    assert cells.get("gru", reset_after=False).options == (("reset_after", False),)
    custom = cells.get("rnn", activation="relu")._replace(name="my_cell")
    cells.register("my_cell_for_test", lambda **kw: custom)
    try:
        assert cells.get("my_cell_for_test") is custom
        with pytest.raises(ValueError, match="already registered"):
            cells.register("my_cell_for_test", lambda **kw: custom)
    finally:
        base.REGISTRY.unregister("my_cell_for_test")


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: cells.get("lstmm"), ValueError, "cell='lstmm' is not a registered cell"),
        (lambda: cells.get("rnn", activation="sigmoid"), ValueError, "activation='sigmoid'"),
        (lambda: cells.get("gru", reset_after="yes"), TypeError, "reset_after"),
        (lambda: cells.get("lstm", init="xavier"), ValueError, "init='xavier'"),
        (lambda: cells.get("lstm", recurrent_init="magic"), ValueError, "recurrent_init='magic'"),
        (lambda: cells.get("lstm", input_init="orthogonal"), ValueError, "input_init='orthogonal'"),
        (lambda: cells.get("rnn", forget_bias=1.0), ValueError, "forget_bias"),
        (lambda: cells.get("rnn", chrono=100.0), ValueError, "chrono"),
        (lambda: cells.get("lstm", chrono=2.0), ValueError, "chrono=2.0"),
        (lambda: cells.get("lstm", chrono=100.0, forget_bias=1.0), ValueError, "chrono and forget_bias"),
        (lambda: cells.get("rnn", recurrent_scale=-1.0), ValueError, "recurrent_scale"),
        (lambda: cells.get("rnn", recurrent_scale=float("nan")), ValueError, "recurrent_scale"),
        (lambda: cells.get("lstm", hiden_size=3), TypeError, "unknown option"),
        (lambda: cells.get("lstm").init(jax.random.key(0), 0, 4), ValueError, "input_size=0"),
        (lambda: cells.get("lstm").init(jax.random.key(0), 3, -2), ValueError, "hidden_size=-2"),
        (lambda: cells.get("lstm").init(jax.random.key(0), 3, 2.5), TypeError, "hidden_size=2.5"),
        (lambda: cells.get("lstm", dtype=jnp.int32), TypeError, "dtype"),
    ],
)
def test_bad_options_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name,options", [("rnn", {}), ("irnn", {}), ("lstm", {}), ("gru", {}), ("exprnn", {}),
                                          ("lru", {}), ("mingru", {}), ("minlstm", {}), ("mingru", {"log_space": False}),
                                          ("scornn", {}), ("antisymmetric", {}), ("antisymmetric", {"gated": True})])
def test_fast_paths_equal_the_plain_step(name, options, key):
    """A cell's split step (joined at its recurrent matmul) and its linear recurrence (as a
    sequential step) give exactly what ``cell.step`` gives."""
    cell = cells.get(name, **options)
    assert (cell.split is not None) or (cell.linear_recurrence is not None)
    k_p, k_c, k_x = jax.random.split(key, 3)
    params = cell.hooks.prepare(cell.init(k_p, 3, 6))
    carry = jax.tree.map(lambda a: jax.random.normal(k_c, a.shape, a.dtype), cell.initial_carry(params, (2,)))
    x_t = cell.project_inputs(params, jax.random.normal(k_x, (2, 3)))
    want = cell.step(params, carry, x_t)
    if cell.split is not None:
        r_t = base.linear(cell.hidden(carry), params["w_hh"])
        jax.tree.map(np.testing.assert_array_equal, cell.split.after_matmul(params, carry, x_t, r_t), want)
    if cell.linear_recurrence is not None:
        recurrence = cell.linear_recurrence
        a, b = recurrence.coefficients(params, x_t)
        state = recurrence.from_state(a * recurrence.to_state(carry) + b)
        np.testing.assert_allclose(state, want[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(base.output(cell, params, state, x_t), want[1], rtol=1e-6, atol=1e-6)

"""The remedy zoo (urnn, scornn, indrnn, cornn, lem, antisymmetric) in the harness: one-line
errors for bad options, IndRNN's bound kept by the trainer, scoRNN's A kept skew-symmetric
by training, and Newton's method equal to the sequential loop.

Their parity with the authors' code is ``tests/test_remedy_parity.py``; the contract tests
every cell passes (``tests/test_unroll.py``) and the runner's seed-k identity
(``tests/test_runner.py``) list them beside the other cells.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, unroll
from rnn_jax.analysis import diagnostics, dynamics
from rnn_jax.training import TrainConfig, make_train, model_for
from rnn_jax.optimizer import Optax
from rnn_jax.unroll import Newton, Options

ZOO = ["urnn", "scornn", "indrnn", "cornn", "lem", "antisymmetric"]


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: cells.get("cornn", dt=0.0), ValueError, r"dt=0.0 must be in \(0.0, inf\]"),
        (lambda: cells.get("cornn", dt=-0.1), ValueError, "dt=-0.1"),
        (lambda: cells.get("cornn", gamma=-1.0), ValueError, "gamma=-1.0"),
        (lambda: cells.get("lem", dt=0), ValueError, "dt=0"),
        (lambda: cells.get("antisymmetric", epsilon=0.0), ValueError, "epsilon=0.0"),
        (lambda: cells.get("antisymmetric", gated="yes"), TypeError, "gated='yes' must be a bool"),
        (lambda: cells.get("indrnn", seq_len=0), ValueError, "seq_len=0"),
        (lambda: cells.get("indrnn", magnitude=1.0), ValueError, "magnitude=1.0"),
        (lambda: cells.get("indrnn", recurrent_init="near_one"), ValueError, "needs seq_len"),
        (lambda: cells.get("indrnn", recurrent_init="ones"), ValueError, "recurrent_init='ones'"),
        (lambda: cells.get("indrnn", grad_clip=0), ValueError, "grad_clip=0"),
        (lambda: cells.get("scornn", negative_eigenvalues=-1), ValueError, "negative_eigenvalues=-1"),
        (lambda: cells.get("scornn", negative_eigenvalues=9).init(jax.random.key(0), 2, 8), ValueError,
         "negative_eigenvalues=9 must be ≤ hidden_size=8"),
        (lambda: cells.get("urnn").init(jax.random.key(0), 2, 7), ValueError, "hidden_size=7 must be even"),
        (lambda: cells.get("urnn", permutation_seed=-1), ValueError, "permutation_seed=-1"),
        (lambda: cells.get("cornn", damping=1.0), TypeError, "damping"),
    ],
)
def test_bad_options_get_one_line_errors(call, error, match):
    with pytest.raises(error, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_indrnn_refuses_sequences_longer_than_its_bound_was_made_for():
    cell = cells.get("indrnn", seq_len=10)
    params = cell.init(jax.random.key(0), 2, 4)
    unroll(cell, params, jnp.zeros((1, 10, 2)))
    unroll(cell, params, jnp.zeros((1, 6, 2)))  # a shorter sequence: the bound is looser than needed
    with pytest.raises(ValueError, match=r"seq_len=10 .*got sequences of 11 steps: make it with seq_len=11"):
        unroll(cell, params, jnp.zeros((1, 11, 2)))
    model = model_for("adding", cells.get("indrnn", seq_len=50), 4)
    with pytest.raises(ValueError, match="got sequences of 100 steps"):
        make_train(TrainConfig(model=model, task="adding", steps=2, batch_size=2))(jax.random.key(0))


def _indrnn_gradients_by_hand(params, inputs, weights, bound):
    """Lasagne's backward pass through ``relu(W x + b + u h)`` with ``grad_clipping=bound``,
    written out in NumPy: at every step the cotangent of the pre-activation is clipped."""
    w, b, u = (np.asarray(params[k], np.float64) for k in ("w_ih", "b_ih", "u"))
    x, c = np.asarray(inputs, np.float64), np.asarray(weights, np.float64)
    hs, pres = [np.zeros((x.shape[0], u.size))], []
    for t in range(x.shape[1]):
        pres.append(x[:, t] @ w.T + b + u * hs[-1])
        hs.append(np.maximum(pres[-1], 0.0))
    grads = {"w_ih": np.zeros_like(w), "b_ih": np.zeros_like(b), "u": np.zeros_like(u)}
    g_h = np.zeros_like(hs[0])
    for t in reversed(range(x.shape[1])):
        g_pre = np.clip((g_h + c[:, t]) * (pres[t] > 0), -bound, bound)
        grads["w_ih"] += g_pre.T @ x[:, t]
        grads["b_ih"] += g_pre.sum(0)
        grads["u"] += (g_pre * hs[t]).sum(0)
        g_h = g_pre * u
    return grads


def test_indrnn_grad_clip_clips_the_pre_activation_gradient_at_every_step_as_lasagne_does():
    cell = cells.get("indrnn", grad_clip=0.5)
    params = cell.init(jax.random.key(0), 3, 6)
    params = {**params, "w_ih": params["w_ih"] * 1000.0, "b_ih": jnp.full((6,), 0.1), "u": params["u"] + 0.5}
    inputs = jax.random.normal(jax.random.key(1), (2, 7, 3))
    weights = 3.0 * jax.random.normal(jax.random.key(2), (2, 7, 6))  # dL/dh_t from each step's output

    def loss(p, cell):
        return jnp.sum(unroll(cell, p, inputs)[1] * weights)

    got = jax.grad(loss)(params, cell)
    want = _indrnn_gradients_by_hand(params, inputs, weights, 0.5)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    plain = jax.grad(loss)(params, cells.get("indrnn"))
    assert not np.allclose(plain["u"], got["u"], rtol=0.1)  # the bound binds here
    np.testing.assert_allclose(plain["u"], _indrnn_gradients_by_hand(params, inputs, weights, np.inf)["u"], rtol=1e-4)
    with pytest.raises(ValueError, match="mode='newton' needs forward-mode derivatives .* use mode='sequential'"):
        unroll(cell, params, inputs, options=Options(mode="newton"))
    # the analyses of the forward map see the map, not the training device
    plain_cell = cells.get("indrnn")
    np.testing.assert_allclose(dynamics.lyapunov_spectrum(cell, params, inputs, num=3),
                               dynamics.lyapunov_spectrum(plain_cell, params, inputs, num=3), rtol=1e-6)
    np.testing.assert_allclose(diagnostics.jacobian_norms(cell, params, inputs),
                               diagnostics.jacobian_norms(plain_cell, params, inputs), rtol=1e-6)
    model = model_for("adding", cell, 4)
    with pytest.raises(ValueError, match="gradient.rule='rtrl' carries credit forwards; 'indrnn' was made with grad_clip"):
        TrainConfig(model=model, task="adding", steps=2, batch_size=2, gradient="rtrl")


@pytest.mark.usefixtures("standard_dtype_promotion")
def test_training_keeps_indrnn_within_its_bound_and_scornn_skew_symmetric():
    """A large learning rate pushes u past the bound at every step; the trainer clips it back
    (the authors' loop clips before each step, so after a step and before the next is the
    same sequence of values). scoRNN's A moves along Vᵀ - V and so stays skew-symmetric."""
    for cell, check in (
        (cells.get("indrnn", seq_len=20, recurrent_init="near_one"),
         lambda p: float(jnp.max(jnp.abs(p["u"]))) <= 2.0 ** (1 / 20) * (1 + 1e-7)),
        (cells.get("scornn", negative_eigenvalues=3),
         lambda p: bool(jnp.all(p["a"] == -p["a"].T)) and bool(jnp.any(p["a"] != 0))),
    ):
        cfg = TrainConfig(model=model_for("adding", cell, 6), task="adding", task_options={"seq_len": 20}, steps=15,
                          batch_size=8, eval_every=15, optimizer=Optax("rmsprop", learning_rate=0.5))
        state, _ = jax.jit(make_train(cfg))(jax.random.key(0))
        layer = state.params["layers"][0]["fwd"]
        assert check(layer), cell.name


@pytest.mark.slow  # 8-30 s each on 2 cores
@pytest.mark.parametrize("name", ZOO)
def test_newton_equals_the_sequential_loop_in_float64(name):
    with jax.enable_x64(True):
        cell = cells.get(name)
        params = jax.tree.map(lambda a: a.astype(jnp.float64), cell.init(jax.random.key(0), 3, 6))
        xs = jax.random.normal(jax.random.key(1), (2, 12, 3), jnp.float64)
        lengths = np.array([12, 7])

        def loss(p, mode):
            final, hs = unroll(cell, p, xs, lengths=lengths, mode=mode,
                               **({"newton": Newton("full")} if mode == "newton" else {}))
            return jnp.sum(jnp.sin(hs)) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(final)), hs

        (want, want_hs), want_grads = jax.value_and_grad(loss, has_aux=True)(params, "sequential")
        (got, got_hs), got_grads = jax.value_and_grad(loss, has_aux=True)(params, "newton")
        np.testing.assert_allclose(np.asarray(got_hs), np.asarray(want_hs), atol=1e-10)
        for k in want_grads:
            np.testing.assert_allclose(np.asarray(got_grads[k]), np.asarray(want_grads[k]), atol=1e-9, rtol=1e-9,
                                       err_msg=k)

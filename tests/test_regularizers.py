"""Pascanu et al.'s Ω: its value equals the formula of their RNN.py computed directly from
∂E/∂h_t and the states, its gradient reaches W_hh only and equals finite differences of that
formula, and training with it changes the W_hh gradient alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import SequenceModel, cells, regularizers, tasks
from rnn_jax.optimizer import Optax
from rnn_jax.training import Gradient, TrainConfig, make_train, model_for

TASK = tasks.get("temporal_order", seq_len=20, min_len=12, eval_size=8)


def _reference(w_hh, u, v, bound=regularizers.BOUND):
    """Their tmp_reg: Σ_t mean_b (‖u W‖²/‖v‖² − 1)² over steps with ‖v‖² >= bound, / Σ_t mean_b valid."""
    v_sq = (v**2).sum(-1)
    valid = v_sq >= bound
    ratio = ((u @ w_hh) ** 2).sum(-1) / np.where(valid, v_sq, 1.0)
    terms = np.where(valid, (ratio - 1.0) ** 2, 0.0)
    return terms.mean(0).sum() / valid.mean(0).sum()


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_omega_equals_the_formula_and_its_gradient_finite_differences(activation):
    with jax.enable_x64(True):
        cell = cells.get("rnn", activation=activation)
        params = jax.tree.map(lambda a: a.astype(jnp.float64), cell.init(jax.random.key(0), 6, 5, recurrent_scale=1.5))
        batch = TASK.sample(jax.random.key(1), 4)
        batch = batch._replace(inputs=batch.inputs.astype(jnp.float64))
        _, hs = jax.jit(lambda p: __import__("rnn_jax").unroll(cell, p, batch.inputs, lengths=batch.lengths))(params)
        hidden_grads = jax.random.normal(jax.random.key(2), (20, 4, 5), jnp.float64)
        mask = np.arange(20)[:, None] < np.asarray(batch.lengths)[None, :]
        hidden_grads = hidden_grads * mask[..., None].astype(np.float64)  # padded steps carry no gradient
        value, grad = regularizers.omega(cell, params, batch, hidden_grads)
        hs = np.asarray(hs)
        h_prev = np.concatenate([np.zeros_like(hs[:, :1]), hs[:, :-1]], axis=1)
        pre = np.asarray(batch.inputs) @ np.asarray(params["w_ih"]).T + np.asarray(params["b_ih"] + params["b_hh"])
        pre = pre + h_prev @ np.asarray(params["w_hh"]).T
        slope = 1 - np.tanh(pre) ** 2 if activation == "tanh" else (pre > 0).astype(float)
        v = np.swapaxes(np.asarray(hidden_grads), 0, 1)
        u = v * slope
        w = np.asarray(params["w_hh"])
        np.testing.assert_allclose(float(value), _reference(w, u, v), rtol=1e-10)
        eps, numeric = 1e-6, np.zeros_like(w)
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                dw = np.zeros_like(w)
                dw[i, j] = eps
                numeric[i, j] = (_reference(w + dw, u, v) - _reference(w - dw, u, v)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-6, atol=1e-9)


def test_training_with_omega_changes_only_the_w_hh_gradient(key):
    base = dict(model=model_for(TASK, "rnn", 8), task=TASK, steps=2, batch_size=4, eval_every=1,
                optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("sgd", learning_rate=0.01)))
    plain, regular = make_train(TrainConfig(**base)), make_train(TrainConfig(**base, gradient=Gradient(omega=2.0)))
    state = plain.init(key)
    batch = plain.sample_batch(state)
    _, _, g0, extra0 = plain.gradients(state.params, batch, None)
    loss, _, g1, extra1 = regular.gradients(state.params, batch, None)
    assert extra0 == {} and float(extra1["omega"]) > 0
    for path, a, b in zip(jax.tree_util.tree_leaves_with_path(g0), jax.tree.leaves(g0), jax.tree.leaves(g1)):
        name = jax.tree_util.keystr(path[0])
        if name.endswith("['w_hh']"):
            assert not np.allclose(a, b), name
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
    _, metrics = jax.jit(regular.train_step)(state, batch)
    assert np.isfinite(metrics["omega"])


def test_omega_is_refused_where_it_is_not_defined():
    with pytest.raises(ValueError, match="gradient.omega=2.0: .*one-layer, unidirectional rnn or irnn.*'lstm'"):
        TrainConfig(model=model_for(TASK, "lstm", 8), task=TASK, gradient=Gradient(omega=2.0))
    with pytest.raises(ValueError, match="2 layer"):
        TrainConfig(model=SequenceModel("rnn", (4, 4), output_size=4), task=TASK, gradient=Gradient(omega=2.0))
    with pytest.raises(ValueError, match="gradient.omega=2.0 is added to BPTT's gradient; gradient.rule='uoro'"):
        Gradient("uoro", omega=2.0)
    with pytest.raises(ValueError, match="gradient.omega=2.0 needs the full backward pass"):
        Gradient(truncation=4, omega=2.0)

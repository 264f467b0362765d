"""Weights move exactly between Flax's built-in cells (linen and nnx) and ours: the same
weights give the same outputs and final carry as Flax's own RNN, and a round trip through
Flax's layout returns our parameters (for nnx's GRUCell, only without b_hn, which it lacks)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, unroll
from rnn_jax.interop.flax_weights import from_flax_params, to_flax_params

linen = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

NAMES = ["LSTMCell", "OptimizedLSTMCell", "GRUCell", "SimpleCell"]
TOL = 1e-5  # float32, the same maths in another order
I, H = 3, 5


def _perturbed(tree, seed):
    """Flax initialises biases to zero: shift every weight so the test can see each one."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(treedef, [a + 0.1 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)])


def _ours_final_h(kind, final):
    return final[0] if kind == "lstm" else final


def _flax_final_h(name, carry):
    return carry[1] if "LSTM" in name else carry  # flax's LSTM carry is (c, h)


@pytest.mark.parametrize("name", NAMES)
def test_linen_cells_match_our_unroll_and_round_trip(name):
    x = jax.random.normal(jax.random.key(0), (4, 7, I))
    lengths = jnp.array([7, 3, 5, 1])
    cell = getattr(linen, name)(H)
    layer = linen.RNN(cell, return_carry=True)
    variables = _perturbed(layer.init(jax.random.key(1), x), 2)
    carry, out = layer.apply(variables, x, seq_lengths=lengths)
    kind, params = from_flax_params(cell, variables["params"]["cell"])
    final, hs = unroll(cells.get(kind), params, x, lengths=lengths)
    valid = (jnp.arange(7)[None, :] < lengths[:, None])[..., None]
    np.testing.assert_allclose(jnp.where(valid, hs, 0), jnp.where(valid, out, 0), atol=TOL)
    np.testing.assert_allclose(_ours_final_h(kind, final), _flax_final_h(name, carry), atol=TOL)
    back = to_flax_params(params, cell)
    chex.assert_trees_all_close(back, jax.tree.map(jnp.asarray, dict(variables["params"]["cell"])), atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_each_flax_weight_is_seen_a_negated_one_fails_the_comparison(name):
    """The inputs and tolerance of the linen test see every weight: Flax's layer with any one
    of its kernels or biases negated, after ours were read from it, no longer matches."""
    x = jax.random.normal(jax.random.key(0), (4, 7, I))
    cell = getattr(linen, name)(H)
    layer = linen.RNN(cell)
    variables = _perturbed(layer.init(jax.random.key(1), x), 2)
    kind, params = from_flax_params(cell, variables["params"]["cell"])
    _, hs = unroll(cells.get(kind), params, x)
    np.testing.assert_allclose(hs, layer.apply(variables, x), atol=TOL)
    paths = [path for path, _ in jax.tree_util.tree_leaves_with_path(variables)]
    assert len(paths) >= 3
    for path in paths:
        negated = jax.tree_util.tree_map_with_path(lambda p, a: -a if p == path else a, variables)
        with pytest.raises(AssertionError):
            np.testing.assert_allclose(hs, layer.apply(negated, x), atol=TOL)
            raise RuntimeError(f"{name}: the comparison passed with {jax.tree_util.keystr(path)} negated")


@pytest.mark.parametrize("name", NAMES)
def test_nnx_cells_match_our_unroll_and_round_trip(name):
    x = jax.random.normal(jax.random.key(0), (4, 7, I))
    cell = getattr(nnx, name)(I, H, rngs=nnx.Rngs(0))
    nnx.update(cell, _perturbed(nnx.state(cell, nnx.Param), 3))
    carry, out = nnx.RNN(cell, return_carry=True)(x)
    kind, params = from_flax_params(cell)
    final, hs = unroll(cells.get(kind), params, x)
    np.testing.assert_allclose(hs, out, atol=TOL)
    np.testing.assert_allclose(_ours_final_h(kind, final), _flax_final_h(name, carry), atol=TOL)
    # ours -> a fresh nnx cell -> ours: the same parameters
    fresh = to_flax_params(params, getattr(nnx, name)(I, H, rngs=nnx.Rngs(7)))
    _, again = from_flax_params(fresh)
    chex.assert_trees_all_close(again, params, atol=1e-7)


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "SimpleCell"])
def test_our_weights_with_both_biases_load_into_linen_exactly(name, key):
    kind = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleCell": "rnn"}[name]
    params = cells.get(kind).init(key, I, H)  # PyTorch's init: b_ih and b_hh both nonzero
    x = jax.random.normal(jax.random.key(4), (2, 6, I))
    cell = getattr(linen, name)(H)
    _, out = linen.RNN(cell, return_carry=True).apply({"params": {"cell": to_flax_params(params, cell)}}, x)
    _, hs = unroll(cells.get(kind), params, x)
    np.testing.assert_allclose(hs, out, atol=TOL)


def test_nnx_gru_has_no_b_hn_so_a_nonzero_one_is_refused(key):
    params = cells.get("gru").init(key, I, H)
    with pytest.raises(ValueError, match="nonzero b_hn block, which flax.nnx.GRUCell cannot hold"):
        to_flax_params(params, nnx.GRUCell(I, H, rngs=nnx.Rngs(0)))
    params = {**params, "b_hh": params["b_hh"].at[2 * H:].set(0.0)}
    _, read = from_flax_params(to_flax_params(params, nnx.GRUCell(I, H, rngs=nnx.Rngs(0))))
    np.testing.assert_array_equal(read["b_hh"], 0.0)  # b_hr, b_hz folded into b_ih; b_hn absent: zero
    np.testing.assert_allclose(read["b_ih"], params["b_ih"] + params["b_hh"], atol=1e-7)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: from_flax_params(object()), TypeError, "cell must be one of Flax's LSTMCell"),
        (lambda: from_flax_params(linen.GRUCell(4)), ValueError, "params=None: a linen cell holds no weights"),
        (lambda: to_flax_params(cells.get("gru").init(jax.random.key(0), 2, 4), linen.LSTMCell(4)), ValueError,
         r"a linen.LSTMCell needs \[4 \* h, h\]"),
    ],
)
def test_bad_flax_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()

"""Our cells inside Flax NNX: FlaxCell run by nnx.RNN equals our unroll, and with torch's
weights equals torch.nn.LSTM; it works in nnx.Bidirectional and under nnx.jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, from_torch, unroll

nnx = pytest.importorskip("flax.nnx")
from rnn_jax.interop.as_flax_modules import FlaxCell  # noqa: E402

TOL = 1e-5  # float32


@pytest.mark.parametrize("name,options", [("lstm", {}), ("gru", {"reset_after": False}), ("rnn", {"activation": "relu"}),
                                          ("exprnn", {}), ("lru", {})])
def test_flax_cell_in_nnx_rnn_equals_our_unroll(name, options):
    x = jax.random.normal(jax.random.key(0), (4, 9, 3))
    module = FlaxCell(name, 3, 6, rngs=nnx.Rngs(0), **options)
    carry, out = nnx.RNN(module, return_carry=True)(x)
    final, hs = unroll(cells.get(name, **options), module.params, x)
    np.testing.assert_allclose(out, hs, atol=TOL)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=TOL), carry, final)
    both = nnx.Bidirectional(nnx.RNN(module), nnx.RNN(FlaxCell(name, 3, 6, rngs=nnx.Rngs(1), **options)))(x)
    assert both.shape == (4, 9, 12)
    np.testing.assert_allclose(both[..., :6], hs, atol=TOL)


def test_torch_weights_load_into_a_flax_cell_and_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, batch_first=True)
    _, params = from_torch(lstm)
    module = FlaxCell("lstm", 3, 5, rngs=nnx.Rngs(0)).load(params["layers"][0]["fwd"])
    x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype(np.float32)
    expected = lstm(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(nnx.jit(lambda m, x: nnx.RNN(m)(x))(module, jnp.asarray(x)), expected, atol=TOL)
    with pytest.raises(ValueError, match="params\\['w_hh'\\] has shape"):
        module.load({**module.params, "w_hh": jnp.zeros((4, 4))})


@pytest.mark.parametrize("name,options", [("lstm", {}), ("gru", {"reset_after": False}), ("lru", {})])
def test_linen_cell_in_nn_rnn_equals_our_unroll(name, options):
    linen = pytest.importorskip("flax.linen")
    from rnn_jax.interop.as_flax_modules import LinenCell

    x = jax.random.normal(jax.random.key(0), (4, 9, 3))
    layer = linen.RNN(LinenCell(name, 6, tuple(options.items())), return_carry=True)
    variables = layer.init(jax.random.key(1), x)
    weights = variables["params"]["cell"]["cell"]
    carry, out = layer.apply(variables, x)
    final, hs = unroll(cells.get(name, **options), weights, x)
    np.testing.assert_allclose(out, hs, atol=TOL)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=TOL), carry, final)
    ours = cells.get(name, **options).init(jax.random.key(2), 3, 6)  # our weights go in as they are
    _, out = layer.apply({"params": {"cell": {"cell": ours}}}, x)
    np.testing.assert_allclose(out, unroll(cells.get(name, **options), ours, x)[1], atol=TOL)

"""Numerical parity with PyTorch's and Flax's recurrent layers given the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import from_torch, to_torch, unroll

torch = pytest.importorskip("torch")

TOL = 1e-5  # float32, as required by the foundation issue

MODULES = [
    ("lstm", lambda **kw: torch.nn.LSTM(**kw)),
    ("gru", lambda **kw: torch.nn.GRU(**kw)),
    ("rnn_tanh", lambda **kw: torch.nn.RNN(nonlinearity="tanh", **kw)),
    ("rnn_relu", lambda **kw: torch.nn.RNN(nonlinearity="relu", **kw)),
]


def _torch_initial_state(kind, num_layers, directions, batch, hidden):
    g = torch.Generator().manual_seed(1)
    h0 = torch.randn(num_layers * directions, batch, hidden, generator=g)
    if kind == "lstm":
        return h0, torch.randn(num_layers * directions, batch, hidden, generator=g)
    return h0


def _run_ours_with_state(model, params, x, state):
    """Layer by layer through ``unroll``, taking torch's [layers*dirs, b, h] initial state."""
    cell = model.cell_fn
    xs, finals = x, []
    for k, layer in enumerate(params["layers"]):
        outs = []
        for d, direction in enumerate(("fwd", "bwd")[: model.num_directions]):
            i = k * model.num_directions + d
            carry = (state[0][i], state[1][i]) if isinstance(state, tuple) else state[i]
            carry = jax.tree.map(lambda t: jnp.asarray(t.numpy()), carry)
            final, hs = unroll(cell, layer[direction], xs, initial_carry=carry, reverse=direction == "bwd")
            outs.append(hs)
            finals.append(final)
        xs = jnp.concatenate(outs, axis=-1)
    return xs, finals


@pytest.mark.parametrize("kind,make", MODULES, ids=[m[0] for m in MODULES])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (2, True)])
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_torch(kind, make, num_layers, bidirectional, with_state):
    torch.manual_seed(0)
    module = make(input_size=3, hidden_size=16, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(5, 12, 3)
    directions = 2 if bidirectional else 1
    if with_state:
        state = _torch_initial_state(kind, num_layers, directions, 5, 16)
        out, final = module(x, state)
    else:
        out, final = module(x)
    model, params = from_torch(module)
    xj = jnp.asarray(x.numpy())
    if with_state:
        ours, finals = _run_ours_with_state(model, params, xj, state)
    else:
        ours = model.apply(params, xj)
        _, finals = _run_ours_with_state(
            model, params, xj, _torch_zero_state(kind, num_layers * directions, 5, 16)
        )
    np.testing.assert_allclose(np.asarray(ours), out.detach().numpy(), atol=TOL, rtol=0)
    # final states: torch's h_n (and c_n) are [layers*dirs, b, h]
    torch_h = (final[0] if kind == "lstm" else final).detach().numpy()
    cell = model.cell_fn
    np.testing.assert_allclose(np.stack([cell.hidden(f) for f in finals]), torch_h, atol=TOL, rtol=0)
    if kind == "lstm":
        np.testing.assert_allclose(np.stack([f[1] for f in finals]), final[1].detach().numpy(), atol=TOL, rtol=0)


def _gatewise_transpose(w):
    """A recurrent weight ``[gates * h, h]`` with each gate's ``h × h`` block transposed."""
    h = w.shape[1]
    return w.reshape(-1, h, h).transpose(1, 2).reshape(w.shape)


PERTURBATIONS = {
    "recurrent matrix transposed": ("weight_hh_l0", _gatewise_transpose),
    "recurrent bias dropped": ("bias_hh_l0", torch.zeros_like),
    "input weights' sign flipped": ("weight_ih_l0", torch.neg),
}


@pytest.mark.parametrize("kind,make", MODULES, ids=[m[0] for m in MODULES])
@pytest.mark.parametrize("perturbation", sorted(PERTURBATIONS))
def test_a_perturbed_torch_reference_fails_the_comparison(kind, make, perturbation):
    """The inputs and tolerance of :func:`test_matches_torch` see a wrong reference: the same
    comparison against a module whose weight was transposed, dropped or negated after ours
    were read from it fails."""
    torch.manual_seed(0)
    module = make(input_size=3, hidden_size=16, num_layers=1, batch_first=True)
    model, params = from_torch(module)
    x = torch.randn(5, 12, 3)
    ours = np.asarray(model.apply(params, jnp.asarray(x.numpy())))
    np.testing.assert_allclose(ours, module(x)[0].detach().numpy(), atol=TOL, rtol=0)
    name, change = PERTURBATIONS[perturbation]
    with torch.no_grad():
        getattr(module, name).copy_(change(getattr(module, name)).clone())
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(ours, module(x)[0].detach().numpy(), atol=TOL, rtol=0)


def _torch_zero_state(kind, n, batch, hidden):
    z = torch.zeros(n, batch, hidden)
    return (z, z) if kind == "lstm" else z


def test_torch_without_bias_and_round_trip():
    torch.manual_seed(3)
    module = torch.nn.GRU(4, 6, bias=False, batch_first=False)
    model, params = from_torch(module)
    assert set(params["layers"][0]["fwd"]) == {"w_ih", "w_hh"}
    x = torch.randn(9, 2, 4)  # batch_first=False: our API stays batch-major
    ours = model.apply(params, jnp.asarray(x.numpy()).swapaxes(0, 1))
    np.testing.assert_allclose(np.asarray(ours).swapaxes(0, 1), module(x)[0].detach().numpy(), atol=TOL)
    # to_torch into a fresh module reproduces the original exactly
    fresh = torch.nn.GRU(4, 6, bias=False)
    to_torch(params, fresh)
    for name, value in module.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[name]), name


def test_to_torch_from_our_init(key):
    from rnn_jax import SequenceModel

    model = SequenceModel("lstm", (7, 5), output_size=None, readout="all", bidirectional=True)
    params = model.init(key, 3)
    module = torch.nn.LSTM(3, 7, num_layers=1, bidirectional=True, batch_first=True)
    with pytest.raises(ValueError, match="shape"):  # layer sizes 7 then 5 cannot fit one module
        to_torch({"layers": params["layers"][1:]}, module)
    single = SequenceModel("lstm", 7, output_size=None, readout="all", bidirectional=True)
    p1 = single.init(key, 3)
    to_torch(p1, module)
    x = jax.random.normal(key, (2, 6, 3))
    expected = module(torch.from_numpy(np.array(x)))[0].detach().numpy()
    np.testing.assert_allclose(np.asarray(single.apply(p1, x)), expected, atol=TOL)


def test_interop_refuses_unsupported():
    with pytest.raises(TypeError, match="module"):
        from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(2, 4, proj_size=2))

# Parity with Flax's cells: tests/test_flax_params.py (the same weights through rnn_jax.interop.flax_weights).

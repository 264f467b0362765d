"""The remedy cells against statements of their authors' code, forward and gradient.

Each ``Their*`` class below is written here from the authors' public code, keeping its
structure (layer layout, concatenation order, update order), in PyTorch for autograd:
- urnn: amarshah/complex_RNN ``models.py`` (Theano): ``times_diag``, ``do_fft``,
  ``times_reflection``, ``vec_permutation`` and the modReLU of ``complex_RNN``;
- cornn: tk-rusch/coRNN ``adding/model.py`` (``coRNNCell``);
- lem: tk-rusch/LEM ``src/adding/network.py`` (``LEMCell``);
- indrnn: Sunnydreamrain/IndRNN_pytorch ``IndRNN_onlyrecurrent.py`` after an ``nn.Linear``,
  and the clipping of ``u`` in IndRNN_Theano_Lasagne ``adding/adding.py``;
- scornn: SpartinStuff/scoRNN ``scoRNN.py`` (TensorFlow) and ``Cayley_Transform_Deriv`` of
  ``scoRNN_copying.py`` (NumPy).
The antisymmetric RNN has no public code; ``test_antisymmetric_follows_the_papers_equations``
checks it against the paper's equations.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from rnn_jax import cells, unroll
from rnn_jax.cells.urnn import permutation, unitary

torch = pytest.importorskip("torch")

STEPS, BATCH, INPUTS, HIDDEN = 7, 3, 2, 6


def _torch(a):
    return torch.tensor(np.asarray(a, np.float64), requires_grad=True)


def _ours(cell, params, xs):
    """Our hidden states for float64 ``params`` and ``xs`` [b, t, i], and their gradient
    of ``sum(hs * weights)`` with respect to every parameter."""
    def loss(p):
        return jnp.sum(unroll(cell, p, xs)[1] * weights)

    with enable_x64(), jax.numpy_dtype_promotion("standard"):
        weights = np.random.RandomState(3).randn(BATCH, STEPS, cell_hidden(cell, params))
        hs = unroll(cell, params, xs)[1]
        grads = jax.grad(loss)(params)
    return np.asarray(hs), {k: np.asarray(v) for k, v in grads.items()}, np.asarray(weights)


def cell_hidden(cell, params):
    return cell.hidden(cell.initial_carry(params, (1,))).shape[-1]


def _compare(ours_hs, ours_grads, theirs_hs, theirs_grads):
    np.testing.assert_allclose(ours_hs, theirs_hs.detach().numpy(), rtol=1e-9, atol=1e-10)
    for name, grad in theirs_grads.items():
        np.testing.assert_allclose(ours_grads[name], grad, rtol=1e-8, atol=1e-10, err_msg=name)


def _setup(name, **options):
    cell = cells.get(name, **options)
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), cell.init(jax.random.key(0), INPUTS, HIDDEN))
    rng = np.random.RandomState(4)  # the cells start with zero biases: shift them so that a misplaced one shows
    params = {k: v + 0.1 * rng.randn(*v.shape) if k.startswith("b") else v for k, v in params.items()}
    xs = np.random.RandomState(1).randn(BATCH, STEPS, INPUTS)
    return cell, params, xs


def _run_theirs(step, state, xs, weights):
    """Runs ``state = step(x_t, state)``, returns the stacked outputs and the weighted loss."""
    outputs = []
    for t in range(STEPS):
        state = step(torch.tensor(xs[:, t]), state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    hs = torch.stack(outputs, 1)
    return hs, (hs * torch.tensor(weights)).sum()


def _grads(loss, tensors):
    return dict(zip(tensors, (g.numpy() for g in torch.autograd.grad(loss, list(tensors.values())))))


def _crossing_both_ways(hs) -> None:
    """Some states are cut by modReLU (exactly 0) and some pass: the comparison is not of zeros."""
    cut = float(np.mean(np.asarray(hs) == 0))
    assert 0.1 < cut < 0.9, f"{cut:.0%} of the states are cut by modReLU"


# --- uRNN ---------------------------------------------------------------------------------

def _their_urnn_step(x_t, h_prev, V, theta, reflection, hidden_bias, perm):
    n = theta.shape[1]
    swap_re_im = np.concatenate((np.arange(n, 2 * n), np.arange(n)))

    def times_diag(input, diag):
        d = torch.cat([diag, -diag])
        return input * torch.cos(d)[None] + (input * torch.sin(d)[None])[:, swap_re_im]

    def fft(input, inverse):
        z = torch.complex(input[:, :n], input[:, n:])
        z = (torch.fft.ifft(z) * n if inverse else torch.fft.fft(z)) / np.sqrt(n)  # cuifft is unnormalised
        return torch.cat([z.real, z.imag], 1)

    def times_reflection(input, v):
        input_re, input_im, reflect_re, reflect_im = input[:, :n], input[:, n:], v[:n], v[n:]
        vstarv = (v ** 2).sum()
        a = torch.outer(input_re @ reflect_re - input_im @ reflect_im, reflect_re)
        b = torch.outer(input_re @ reflect_im + input_im @ reflect_re, reflect_im)
        c = torch.outer(input_re @ reflect_re - input_im @ reflect_im, reflect_im)
        d = torch.outer(input_re @ reflect_im + input_im @ reflect_re, reflect_re)
        return torch.cat([input_re - 2. / vstarv * (a + b), input_im - 2. / vstarv * (d - c)], 1)

    step = times_diag(h_prev, theta[0])
    step = times_reflection(fft(step, False), reflection[0])
    step = step[:, np.concatenate((perm, perm + n))]
    step = times_diag(step, theta[1])
    step = times_reflection(fft(step, True), reflection[1])
    lin_output = times_diag(step, theta[2]) + x_t @ V
    modulus = torch.sqrt(lin_output ** 2 + lin_output[:, swap_re_im] ** 2)
    rescale = torch.clamp(modulus + torch.tile(hidden_bias, [2])[None], min=0.) / (modulus + 1e-5)
    return lin_output * rescale


def test_urnn_matches_their_theano_recurrence():
    """``b = -0.8`` puts modReLU's cut inside the moduli's range, so about half the states are
    cut and half pass; with their diagonal's phases negated, or their bias dropped, the same
    comparison fails."""
    cell, params, xs = _setup("urnn")
    params["b"] = np.full_like(params["b"], -0.8)
    hs, grads, weights = _ours(cell, params, xs)
    _crossing_both_ways(hs)
    perm = permutation(HIDDEN // 2, 1234)

    def theirs(theta_sign=1.0, bias=True):
        tensors = {"w_ih": _torch(params["w_ih"]), "theta": _torch(params["theta"]),
                   "reflection": _torch(params["reflection"]), "b": _torch(params["b"])}
        step = lambda x, h: _their_urnn_step(x, h, tensors["w_ih"].T, theta_sign * tensors["theta"],  # noqa: E731
                                             tensors["reflection"], tensors["b"] * float(bias), perm)
        their_hs, loss = _run_theirs(step, torch.zeros(BATCH, HIDDEN, dtype=torch.float64), xs, weights)
        return their_hs, _grads(loss, tensors)

    _compare(hs, grads, *theirs())
    for perturbed in ({"theta_sign": -1.0}, {"bias": False}):
        with pytest.raises(AssertionError):
            _compare(hs, grads, *theirs(**perturbed))


def test_urnn_recurrent_matrix_is_unitary_and_is_the_step(key):
    cell = cells.get("urnn")
    params = cell.init(key, 3, 16)
    w = cell.hooks.recurrent_matrix(params)
    np.testing.assert_allclose(np.asarray(w.conj().T @ w), np.eye(8), atol=1e-5)
    z = jax.lax.complex(*jax.random.normal(key, (2, 8)))
    np.testing.assert_allclose(np.asarray(unitary(params, z, 1234)), np.asarray(w @ z), atol=1e-5)
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), params)
    assert cell.hooks.recurrent_matrix(stacked).shape == (2, 8, 8)


# --- coRNN, LEM, IndRNN (PyTorch) ----------------------------------------------------------

def _their_cornn(params, xs, weights):
    """Their coRNN's states and gradients for our ``params`` (dt 0.05, γ 3, ε 4)."""
    i2h = torch.nn.Linear(INPUTS + 2 * HIDDEN, HIDDEN).double()
    with torch.no_grad():  # their Linear acts on cat(x, hz, hy); ours is w_ih on x, w_hh on cat(z, y)
        i2h.weight.copy_(torch.tensor(np.concatenate([params["w_ih"], params["w_hh"]], 1)))
        i2h.bias.copy_(torch.tensor(params["b_ih"]))

    def step(x, state):  # coRNNCell.forward
        hy, hz = state
        hz = hz + 0.05 * (torch.tanh(i2h(torch.cat((x, hz, hy), 1))) - 3.0 * hy - 4.0 * hz)
        hy = hy + 0.05 * hz
        return hy, hz

    zeros = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)
    their_hs, loss = _run_theirs(step, (zeros, zeros), xs, weights)
    g_w, g_b = torch.autograd.grad(loss, [i2h.weight, i2h.bias])
    return their_hs, {"w_ih": g_w[:, :INPUTS].numpy(), "w_hh": g_w[:, INPUTS:].numpy(), "b_ih": g_b.numpy()}


def test_cornn_matches_their_cell():
    cell, params, xs = _setup("cornn", dt=0.05, gamma=3.0, epsilon=4.0)
    hs, grads, weights = _ours(cell, params, xs)
    _compare(hs, grads, *_their_cornn(params, xs, weights))


def _their_lem(params, xs, weights):
    """Their LEM's states and gradients for our ``params`` (dt 0.5)."""
    inp2hid, hid2hid = torch.nn.Linear(INPUTS, 4 * HIDDEN).double(), torch.nn.Linear(HIDDEN, 3 * HIDDEN).double()
    transform_z = torch.nn.Linear(HIDDEN, HIDDEN).double()
    layers = {"w_ih": inp2hid.weight, "b_ih": inp2hid.bias, "w_hh": hid2hid.weight, "b_hh": hid2hid.bias,
              "w_z": transform_z.weight, "b_z": transform_z.bias}
    with torch.no_grad():
        for name, tensor in layers.items():
            tensor.copy_(torch.tensor(params[name]))

    def step(x, state):  # LEMCell.forward
        y, z = state
        i_dt1, i_dt2, i_z, i_y = inp2hid(x).chunk(4, 1)
        h_dt1, h_dt2, h_y = hid2hid(y).chunk(3, 1)
        ms_dt_bar = 0.5 * torch.sigmoid(i_dt1 + h_dt1)
        ms_dt = 0.5 * torch.sigmoid(i_dt2 + h_dt2)
        z = (1. - ms_dt) * z + ms_dt * torch.tanh(i_y + h_y)
        y = (1. - ms_dt_bar) * y + ms_dt_bar * torch.tanh(transform_z(z) + i_z)
        return y, z

    zeros = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)
    their_hs, loss = _run_theirs(step, (zeros, zeros), xs, weights)
    return their_hs, _grads(loss, layers)


def test_lem_matches_their_cell():
    cell, params, xs = _setup("lem", dt=0.5)
    hs, grads, weights = _ours(cell, params, xs)
    _compare(hs, grads, *_their_lem(params, xs, weights))


def _their_indrnn(params, xs, weights):
    """Their IndRNN layer's (after a dense layer) states and gradients for our ``params``."""
    dense = torch.nn.Linear(INPUTS, HIDDEN).double()
    weight_hh = _torch(params["u"])
    with torch.no_grad():
        dense.weight.copy_(torch.tensor(params["w_ih"]))
        dense.bias.copy_(torch.tensor(params["b_ih"]))

    def step(x, hx):  # IndRNNCell_onlyrecurrent.forward, on the dense layer's output
        return torch.nn.functional.relu(dense(x) + hx * weight_hh.unsqueeze(0).expand(hx.size(0), len(weight_hh)))

    their_hs, loss = _run_theirs(step, torch.zeros(BATCH, HIDDEN, dtype=torch.float64), xs, weights)
    g_w, g_b, g_u = torch.autograd.grad(loss, [dense.weight, dense.bias, weight_hh])
    return their_hs, {"w_ih": g_w.numpy(), "b_ih": g_b.numpy(), "u": g_u.numpy()}


def test_indrnn_matches_their_cell_and_clips_u_as_their_training_loop():
    cell, params, xs = _setup("indrnn", seq_len=STEPS, input_std=0.5)
    hs, grads, weights = _ours(cell, params, xs)
    _compare(hs, grads, *_their_indrnn(params, xs, weights))
    bound = 2.0 ** (1.0 / STEPS)  # U_bound = pow(MAG, 1.0 / seq_len); np.clip(W, -U_bound, U_bound)
    u = np.array([-3.0, -1.0, 0.5, 1.05, bound, 7.0], np.float32)
    np.testing.assert_array_equal(np.asarray(cell.hooks.constrain({**params, "u": jnp.asarray(u)})["u"]),
                                  np.clip(u, -np.float32(bound), np.float32(bound)))
    assert params["u"].min() >= 0 and params["u"].max() <= bound  # Uniform(range=(0, U_bound))


def _transposed(w):
    """``w [h, k·h]`` with each square block transposed (coRNN's ``w_hh``: the z and y blocks)."""
    return np.concatenate([block.T for block in np.split(w, w.shape[1] // w.shape[0], axis=1)], 1)


PERTURBED = [
    ("cornn", {"dt": 0.05, "gamma": 3.0, "epsilon": 4.0}, _their_cornn,
     {"w_hh transposed": ("w_hh", _transposed), "bias dropped": ("b_ih", np.zeros_like), "w_ih negated": ("w_ih", np.negative)}),
    ("lem", {"dt": 0.5}, _their_lem,
     {"w_z transposed": ("w_z", np.transpose), "b_hh dropped": ("b_hh", np.zeros_like), "w_ih negated": ("w_ih", np.negative)}),
    ("indrnn", {"seq_len": STEPS, "input_std": 0.5}, _their_indrnn,
     {"u negated": ("u", np.negative), "bias dropped": ("b_ih", np.zeros_like), "w_ih negated": ("w_ih", np.negative)}),
]


@pytest.mark.parametrize(("name", "options", "theirs", "changes"), PERTURBED, ids=[p[0] for p in PERTURBED])
def test_a_perturbed_reference_fails_the_comparison(name, options, theirs, changes):
    """Each comparison above sees a wrong reference: their code given one of our weights
    transposed, dropped or negated does not match our cell."""
    cell, params, xs = _setup(name, **options)
    hs, grads, weights = _ours(cell, params, xs)
    for what, (key, change) in changes.items():
        with pytest.raises(AssertionError):
            _compare(hs, grads, *theirs({**params, key: change(params[key])}, xs, weights))
            raise RuntimeError(f"{name}: the comparison passed with {what}")


# --- scoRNN (TensorFlow and NumPy) -----------------------------------------------------------

def test_scornn_matches_their_cell_and_their_update_direction_for_a():
    """Their cell computes ``res = x @ U + state @ W`` (``scoRNN.py``): ``W`` acts on the row
    state from the right. Inputs of order 1 and ``b = -0.5`` put modReLU's cut inside the
    states' range, so both sides of it are compared; the same comparison with their ``W``
    transposed, or ``D``'s signs flipped, fails."""
    negatives = 2
    cell, params, xs = _setup("scornn", negative_eigenvalues=negatives)
    params["w_ih"] = np.random.RandomState(2).randn(*params["w_ih"].shape)
    params["b"] = np.full_like(params["b"], -0.5)
    hs, grads, weights = _ours(cell, params, xs)
    _crossing_both_ways(hs)
    a = params["a"]
    np.testing.assert_array_equal(a, -a.T)
    identity = np.identity(HIDDEN)
    d = np.diag(np.concatenate([np.ones(HIDDEN - negatives), -np.ones(negatives)]))
    made = np.linalg.lstsq(identity + a, identity - a, rcond=None)[0] @ d  # makeW

    def theirs(w_value):
        w = torch.tensor(w_value, requires_grad=True)
        u, b = _torch(params["w_ih"].T), _torch(params["b"])

        def step(x, state):  # scoRNNCell.__call__, modReLU
            res = x @ u + state @ w
            return torch.relu(torch.abs(res) + b) * torch.sign(res)

        their_hs, loss = _run_theirs(step, torch.zeros(BATCH, HIDDEN, dtype=torch.float64), xs, weights)
        g_u, g_b, g_w = (g.numpy() for g in torch.autograd.grad(loss, [u, b, w]))
        update = np.linalg.lstsq((identity + a).T, g_w @ (d + w_value.T), rcond=None)[0]  # Cayley_Transform_Deriv
        return their_hs, {"w_ih": g_u.T, "b": g_b, "a": update.T - update}

    _compare(hs, grads, *theirs(made))
    for perturbed in (made.T, -made):  # W transposed; D's signs flipped (Z(-D) = -ZD)
        with pytest.raises(AssertionError):
            _compare(hs, grads, *theirs(perturbed))


def test_antisymmetric_follows_the_papers_equations(key):
    for gated in (False, True):
        cell = cells.get("antisymmetric", epsilon=0.2, gamma=0.05, gated=gated)
        params = cell.init(key, 3, 5)
        h, x = jax.random.normal(key, (2, 5)), jax.random.normal(jax.random.key(1), (2, 3))
        a = params["w"] - params["w"].T - 0.05 * jnp.eye(5)
        pre = x @ params["w_ih"].T + params["b_ih"][None]
        if gated:
            expected = h + 0.2 * jax.nn.sigmoid(h @ a.T + pre[:, :5]) * jnp.tanh(h @ a.T + pre[:, 5:])
        else:
            expected = h + 0.2 * jnp.tanh(h @ a.T + pre)
        new, _ = cell.step(cell.hooks.prepare(params), h, cell.project_inputs(params, x))
        np.testing.assert_allclose(np.asarray(new), np.asarray(expected), atol=1e-5)
        eigenvalues = np.linalg.eigvals(np.asarray(cell.hooks.recurrent_matrix(params), np.float64))
        np.testing.assert_allclose(eigenvalues.real, -0.05, atol=1e-5)  # W - Wᵀ: imaginary; shifted by -γ

"""SequenceModel: reference architectures, readouts, dropout, probes and validation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import SequenceModel, cells, unroll

D = 7  # input features in the reference snippets


@pytest.mark.parametrize(
    "model,expected",
    [
        # Keras: LSTM(50) -> Dropout(0.2) -> Dense(1, sigmoid): 4*(u*(d+u)+u) + (u+1)
        (SequenceModel("lstm", 50, output_dropout=0.2, cell_options={"init": "keras"}), 4 * (50 * (D + 50) + 50) + 51),
        # Keras: SimpleRNN(128, return_sequences=True) -> SimpleRNN(64) -> Dense(1)
        (
            SequenceModel("rnn", (128, 64), cell_options={"init": "keras"}),
            (128 * (D + 128) + 128) + (64 * (128 + 64) + 64) + 65,
        ),
        # Keras GRU(32) (reset_after=True): 3*(u*(d+u) + 2u)
        (SequenceModel("gru", 32, output_size=None, cell_options={"init": "keras"}), 3 * (32 * (D + 32) + 2 * 32)),
        # PyTorch: nn.RNN(d, h) -> nn.Linear(h, o)
        (SequenceModel("rnn", 20, output_size=3), (20 * D + 20 * 20 + 2 * 20) + 20 * 3 + 3),
        # PyTorch: nn.LSTM(d, u): 4*(u*d + u*u + 2u)
        (SequenceModel("lstm", 16, output_size=None), 4 * (16 * D + 16 * 16 + 2 * 16)),
    ],
)
def test_reference_parameter_counts(model, expected, key):
    assert model.param_count(D) == expected
    params = model.init(key, D)
    assert sum(a.size for a in jax.tree.leaves(params)) == expected


def test_layer_sizes_and_bidirectional_stack(key):
    model = SequenceModel("gru", (8, 5), bidirectional=True, output_size=2, readout="all")
    params = model.init(key, 3)
    assert params["layers"][1]["fwd"]["w_ih"].shape == (15, 16)  # layer 2 reads both directions of layer 1
    out = model.apply(params, jnp.ones((4, 6, 3)))
    assert out.shape == (4, 6, 2)


def test_stack_equals_manual_unrolls(key):
    """Two bidirectional layers + last readout + head == the same maths written with unroll."""
    model = SequenceModel("lstm", (6, 4), bidirectional=True, output_size=2)
    params = model.init(key, 3)
    x = jax.random.normal(jax.random.key(1), (5, 9, 3))
    lengths = jnp.array([9, 4, 1, 7, 9])
    cell = cells.get("lstm")
    xs = x
    for layer in params["layers"]:
        f_fwd, h_fwd = unroll(cell, layer["fwd"], xs, lengths=lengths)
        f_bwd, h_bwd = unroll(cell, layer["bwd"], xs, lengths=lengths, reverse=True)
        xs = jnp.concatenate([h_fwd, h_bwd], -1)
    feats = jnp.concatenate([f_fwd[0], f_bwd[0]], -1)
    expected = feats @ params["head"]["w"].T + params["head"]["b"][None]
    np.testing.assert_allclose(model.apply(params, x, lengths), expected, atol=1e-6)
    # "last" for the forward direction is the output at each sequence's last valid step
    np.testing.assert_allclose(f_fwd[0], h_fwd[jnp.arange(5), lengths - 1], atol=1e-6)


def test_readouts_mean_and_all_with_lengths(key):
    base_model = SequenceModel("rnn", 6, output_size=None, readout="all")
    params = base_model.init(key, 2)
    x = jax.random.normal(key, (3, 5, 2))
    lengths = jnp.array([5, 2, 3])
    hs = base_model.apply(params, x, lengths)
    mean = SequenceModel("rnn", 6, output_size=None, readout="mean").apply(params, x, lengths)
    for b, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(mean[b], hs[b, :n].mean(0), atol=1e-6)
    with_head = SequenceModel("rnn", 6, output_size=2, readout="all")
    p2 = with_head.init(key, 2)
    out = with_head.apply(p2, x, lengths)
    np.testing.assert_array_equal(out[1, 2:], 0.0)
    # flat: the head reads every step's output, concatenated in time order (MNIST-1D's GRU);
    # padded steps contribute zeros
    flat = SequenceModel("rnn", 6, output_size=3, readout="flat", seq_len=5)
    p3 = flat.init(key, 2)
    assert p3["head"]["w"].shape == (3, 5 * 6) and flat.feature_size == 30
    expected = np.asarray(hs).reshape(3, 30) @ np.asarray(p3["head"]["w"]).T + np.asarray(p3["head"]["b"])
    np.testing.assert_allclose(flat.apply(p3, x, lengths), expected, atol=1e-5)
    with pytest.raises(ValueError, match="inputs has 4 steps but readout='flat' was built for seq_len=5"):
        flat.apply(p3, x[:, :4])


def test_dropout_only_in_training_and_keyed(key):
    model = SequenceModel("lstm", (8, 8), dropout=0.5, output_dropout=0.3, output_size=1)
    params = model.init(key, 3)
    x = jax.random.normal(key, (4, 6, 3))
    clean = model.apply(params, x)
    np.testing.assert_array_equal(clean, model.apply(params, x, train=False, key=jax.random.key(9)))
    a = model.apply(params, x, train=True, key=jax.random.key(1))
    b = model.apply(params, x, train=True, key=jax.random.key(1))
    c = model.apply(params, x, train=True, key=jax.random.key(2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, clean) and not np.allclose(a, c)
    with pytest.raises(ValueError, match="key=None"):
        model.apply(params, x, train=True)


def test_probes_give_per_layer_hidden_gradients(key):
    model = SequenceModel("gru", (5, 4), output_size=1)
    params = model.init(key, 2)
    x = jax.random.normal(key, (3, 7, 2))
    probes = [jnp.zeros((7, 3, 5)), jnp.zeros((7, 3, 4))]
    grads = jax.grad(lambda pr: model.apply(params, x, probes=pr).sum())(probes)
    # only the last step feeds the "last" readout directly; earlier steps through the recurrence
    assert float(jnp.abs(grads[1][-1]).sum()) > 0 and float(jnp.abs(grads[0][0]).sum()) > 0
    # layer 2's last-step gradient is exactly the head weight (output = w . h_T + b)
    np.testing.assert_allclose(grads[1][-1], jnp.broadcast_to(params["head"]["w"][0], (3, 4)), atol=1e-6)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: SequenceModel("lstmm"), ValueError, "lstmm"),
        (lambda: SequenceModel("lstm", 0), ValueError, "hidden_size=0"),
        (lambda: SequenceModel("lstm", (4, -1)), ValueError, "hidden_size=-1"),
        (lambda: SequenceModel("lstm", (4, 4), num_layers=3), ValueError, "num_layers=3"),
        (lambda: SequenceModel("lstm", 4, num_layers=0), ValueError, "num_layers=0"),
        (lambda: SequenceModel("lstm", 4, dropout=1.0), ValueError, "dropout=1.0"),
        (lambda: SequenceModel("lstm", 4, output_dropout=-0.1), ValueError, "output_dropout=-0.1"),
        (lambda: SequenceModel("lstm", 4, readout="first"), ValueError, "readout='first'"),
        (lambda: SequenceModel("lstm", 4, readout="flat"), ValueError, "readout='flat' needs seq_len"),
        (lambda: SequenceModel("lstm", 4, output_size=0), ValueError, "output_size=0"),
        (lambda: SequenceModel("rnn", 4, cell_options={"activation": "gelu"}), ValueError, "activation='gelu'"),
        (lambda: SequenceModel("rnn", (4, 4), layer_options=({},)), ValueError, "layer_options has 1 entries"),
        (lambda: SequenceModel("rnn", (4, 4), layer_options={"activation": "relu"}), TypeError, "one mapping per layer"),
        (lambda: SequenceModel("rnn", (4, 4), layer_options=({"activation": "gelu"}, {})), ValueError,
         "activation='gelu'"),
        (lambda: SequenceModel(cells.get("rnn"), (4, 4), layer_options=({}, {})), TypeError, "Cell object"),
        (lambda: SequenceModel("rnn", 4, head_init="xavier"), ValueError, "head_init='xavier'"),
    ],
)
def test_bad_model_configs(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "inputs,lengths,error,match",
    [
        (jnp.ones((2, 5, 4)), None, ValueError, "expected input_size=3"),
        (jnp.ones((2, 5, 3), jnp.int32), None, TypeError, "floating-point"),
        (np.ones((2, 5, 3), np.float32).tolist(), None, TypeError, "must be an array"),
        (jnp.ones((3,)), None, ValueError, "rank >= 2"),
        (jnp.ones((2, 5, 3)), jnp.array([6, 1]), ValueError, r"lengths must lie in \[1, 5\]"),
        (jnp.ones((2, 5, 3)), jnp.array([[5, 1]]), ValueError, "lengths must have shape"),
    ],
)
def test_bad_apply_inputs(inputs, lengths, error, match, key):
    model = SequenceModel("lstm", 4)
    params = model.init(key, 3)
    with pytest.raises(error, match=match):
        model.apply(params, inputs, lengths)


def test_params_must_match_model(key):
    params = SequenceModel("lstm", 4).init(key, 3)
    with pytest.raises(ValueError, match="layers"):
        SequenceModel("lstm", 4, num_layers=2).apply(params, jnp.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="head"):
        SequenceModel("lstm", 4, output_size=None).apply(params, jnp.ones((1, 2, 3)))


def test_a_cell_object_is_as_good_as_its_name(key):
    by_name = SequenceModel("gru", 5, output_size=2)
    by_object = SequenceModel(cells.get("gru"), 5, output_size=2)
    assert by_object.cell_name == "gru"
    params = by_name.init(key, 3)
    xs = jax.random.normal(jax.random.key(1), (2, 7, 3))
    np.testing.assert_array_equal(by_name.apply(params, xs), by_object.apply(params, xs))
    with pytest.raises(TypeError, match="cannot be given with a Cell object"):
        SequenceModel(cells.get("gru"), 5, cell_options={"init": "keras"})
    with pytest.raises(TypeError, match="registered cell name"):
        SequenceModel(len, 5)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_the_arjovsky_preset_gives_their_readout(cell):
    """Arjovsky et al.'s models.py draws the readout V Glorot-uniform, U(±sqrt(6 / (h + out))),
    with a zero bias; torch's Linear would stay within U(±1/sqrt(h)) with a random bias."""
    hidden = 128
    model = SequenceModel(cell=cell, hidden_size=hidden, output_size=1, cell_options={"init": "arjovsky"})
    head = model.init(jax.random.key(3), 2)["head"]
    glorot, torch = math.sqrt(6 / (hidden + 1)), 1 / math.sqrt(hidden)
    assert jnp.all(head["b"] == 0)
    assert float(jnp.max(jnp.abs(head["w"]))) <= glorot
    assert float(jnp.max(jnp.abs(head["w"]))) > 1.5 * torch  # all 128 within torch's bound: probability 0.41**128


def test_layer_options_give_each_layer_its_cell(key):
    """IndRNN as its authors' adding script builds it: the first layer's u from [0, bound], the
    last one's near 1; the stack computes what the two cells unrolled by hand compute, and the
    trainer's constraint keeps each layer within its own cell's bound."""
    bound = 2 ** (1 / 50)
    model = SequenceModel("indrnn", (16, 16), cell_options={"seq_len": 50, "recurrent_init": "near_one"},
                          layer_options=({"recurrent_init": "uniform"}, {}))
    first, last = model.layer_cells
    assert dict(first.options)["recurrent_init"] == "uniform" and dict(last.options)["recurrent_init"] == "near_one"
    params = model.init(key, 2)
    u0, u1 = (params["layers"][i]["fwd"]["u"] for i in (0, 1))
    assert float(u0.min()) < 0.5 and float(u1.min()) >= 1 / bound - 1e-6  # drawn by different rules
    xs = jax.random.uniform(jax.random.key(1), (3, 50, 2))
    _, h0 = unroll(first, params["layers"][0]["fwd"], xs)
    final, _ = unroll(last, params["layers"][1]["fwd"], h0)
    expected = final @ params["head"]["w"].T + params["head"]["b"][None]
    np.testing.assert_allclose(model.apply(params, xs), expected, rtol=1e-5, atol=1e-6)
    # an option that changes the step: a relu first layer under a tanh one
    mixed = SequenceModel("rnn", (6, 6), output_size=None, layer_options=({"activation": "relu"}, {}))
    p = mixed.init(key, 2)
    _, h = unroll(cells.get("rnn", activation="relu"), p["layers"][0]["fwd"], xs)
    final, _ = unroll(cells.get("rnn"), p["layers"][1]["fwd"], h)
    np.testing.assert_allclose(mixed.apply(p, xs), final, rtol=1e-5, atol=1e-6)
    wide = {**params, "layers": [{"fwd": {**layer["fwd"], "u": layer["fwd"]["u"] * 3}} for layer in params["layers"]]}
    assert all(float(jnp.max(jnp.abs(layer["fwd"]["u"]))) <= bound + 1e-6 for layer in model.constrain(wide)["layers"])


@pytest.mark.parametrize("head_init, glorot", [("glorot", True), ("torch", False), (None, False)])
def test_head_init_draws_the_head_as_asked(head_init, glorot):
    hidden = 128
    head = SequenceModel("indrnn", hidden, output_size=1, head_init=head_init).init(jax.random.key(3), 2)["head"]
    assert bool(jnp.all(head["b"] == 0)) == glorot
    widest = float(jnp.max(jnp.abs(head["w"])))
    assert widest <= (math.sqrt(6 / (hidden + 1)) if glorot else 1 / math.sqrt(hidden))
    assert (widest > 1.5 / math.sqrt(hidden)) == glorot  # all 128 within torch's bound: probability 0.41**128

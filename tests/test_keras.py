"""``from_keras`` / ``to_keras`` against real Keras 3 layers (JAX backend).

Outputs equal Keras's for SimpleRNN, LSTM and both GRUs, stacked, bidirectional, with
dropout, a Dense head and masking; weights go back into Keras unchanged; a model trained in
Keras predicts the same through ours; what cannot be expressed is refused by name.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "jax":
    pytest.skip(f"Keras runs on {keras.backend.backend()} here; these tests use its JAX backend", allow_module_level=True)

from rnn_jax import SequenceModel, from_keras, to_keras  # noqa: E402
from rnn_jax.interop.keras import lengths_from_mask  # noqa: E402

L = keras.layers
T, I = 7, 3


@pytest.fixture(autouse=True)
def keras_promotion():
    """Keras's own JAX code relies on standard dtype and rank promotion."""
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        yield


def _inputs(batch=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, T, I)).astype(np.float32)


def _sequential(*layers):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T, I)), *layers])
    for layer in model.layers:  # non-zero biases everywhere, so a misplaced bias shows
        layer.set_weights([w + 0.1 * np.random.default_rng(1).normal(size=w.shape) for w in layer.get_weights()])
    return model


CASES = {
    "simple_rnn": lambda: [L.SimpleRNN(5)],
    "simple_rnn_relu_no_bias": lambda: [L.SimpleRNN(5, activation="relu", use_bias=False)],
    "lstm_sequences": lambda: [L.LSTM(5, return_sequences=True)],
    "gru_reset_after": lambda: [L.GRU(5)],
    "gru_reset_before": lambda: [L.GRU(5, reset_after=False)],
    "keras_seed_lstm_dropout_dense": lambda: [L.LSTM(6), L.Dropout(0.2), L.Dense(1, activation="sigmoid")],
    "keras_seed_stacked_simple_rnn": lambda: [L.SimpleRNN(8, return_sequences=True), L.SimpleRNN(4), L.Dense(1)],
    "bidirectional_stacked_gru": lambda: [L.Bidirectional(L.GRU(4, return_sequences=True)), L.Dropout(0.1),
                                          L.Bidirectional(L.GRU(3)), L.Dense(2)],
    "per_step_head": lambda: [L.LSTM(4, return_sequences=True), L.Dense(2)],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_equal_keras(case):
    k = _sequential(*CASES[case]())
    model, params = from_keras(k)
    x = _inputs()
    out = model.apply(params, x)
    if k.layers[-1].get_config().get("activation") == "sigmoid":
        out = jax.nn.sigmoid(out)
    np.testing.assert_allclose(out, np.asarray(k(x)), atol=2e-6, rtol=1e-5)
    assert model.param_count(I) == k.count_params()


@pytest.mark.parametrize("case", ["simple_rnn", "lstm_sequences", "gru_reset_after", "gru_reset_before"])
@pytest.mark.parametrize("perturbation", ["recurrent kernel transposed", "bias dropped", "kernel's sign flipped"])
def test_a_perturbed_keras_reference_fails_the_comparison(case, perturbation):
    """The inputs and tolerances of :func:`test_outputs_equal_keras` see a wrong reference:
    Keras's layer with a weight transposed (gate by gate), dropped or negated after ours were
    read from it no longer matches."""
    k = _sequential(*CASES[case]())
    model, params = from_keras(k)
    x = _inputs()
    out = model.apply(params, x)
    np.testing.assert_allclose(out, np.asarray(k(x)), atol=2e-6, rtol=1e-5)
    kernel, recurrent, bias = k.layers[0].get_weights()
    h = recurrent.shape[0]
    if perturbation == "recurrent kernel transposed":  # [h, gates * h]: each gate's h × h block
        recurrent = recurrent.reshape(h, -1, h).transpose(2, 1, 0).reshape(recurrent.shape)
    elif perturbation == "bias dropped":
        bias = np.zeros_like(bias)
    else:
        kernel = -kernel
    k.layers[0].set_weights([kernel, recurrent, bias])
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(out, np.asarray(k(x)), atol=2e-6, rtol=1e-5)


def test_a_single_layer_and_the_weights_back_into_keras():
    layer = L.Bidirectional(L.LSTM(4, return_sequences=True))
    layer.build((None, T, I))
    model, _ = from_keras(layer)
    assert model.bidirectional and model.cell == "lstm"
    theirs = _sequential(L.GRU(5, reset_after=False), L.Dense(2))
    ours = SequenceModel("gru", 5, output_size=2, cell_options={"reset_after": False, "init": "keras"})
    params = ours.init(jax.random.key(3), I)
    to_keras(params, theirs)
    x = _inputs(seed=2)
    np.testing.assert_allclose(np.asarray(theirs(x)), ours.apply(params, x), atol=2e-6, rtol=1e-5)
    # PyTorch-style parameters with two biases fold into Keras's one
    torch_style = SequenceModel("lstm", 4, output_size=1)
    params = torch_style.init(jax.random.key(4), I)
    theirs = _sequential(L.LSTM(4), L.Dense(1))
    to_keras(params, theirs)
    np.testing.assert_allclose(np.asarray(theirs(x)), torch_style.apply(params, x), atol=2e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="do not fit Keras layer"):
        to_keras(SequenceModel("lstm", 6, output_size=1).init(jax.random.key(0), I), theirs)


def test_masking_is_lengths():
    k = _sequential(L.Masking(0.0), L.Bidirectional(L.GRU(4)), L.Dense(1))
    x = _inputs(batch=3)
    x[0, 5:] = 0.0
    x[2, 2:] = 0.0
    model, params = from_keras(k)
    lengths = lengths_from_mask(x)
    np.testing.assert_array_equal(lengths, [5, 7, 2])
    np.testing.assert_allclose(model.apply(params, x, lengths), np.asarray(k(x)), atol=2e-6, rtol=1e-5)
    x[1, 3] = 0.0  # a hole: not expressible as a length
    with pytest.raises(ValueError, match="padding at the end only"):
        lengths_from_mask(x)


def test_a_model_trained_in_keras_predicts_the_same_through_ours():
    keras.utils.set_random_seed(0)
    k = keras.Sequential([keras.Input((T, I)), L.LSTM(8), L.Dropout(0.2), L.Dense(1, activation="sigmoid")])
    k.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    x = _inputs(batch=64, seed=5)
    y = (x[:, 0, 0] > 0).astype(np.float32)[:, None]
    before = k.get_weights()
    k.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(before, k.get_weights()))  # it really trained
    model, params = from_keras(k)
    np.testing.assert_allclose(jax.nn.sigmoid(model.apply(params, x)), k.predict(x, verbose=0), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("layers, named", [
    ([L.LSTM(4, recurrent_dropout=0.2)], "recurrent_dropout=0.2"),
    ([L.LSTM(4, dropout=0.1)], "dropout=0.1"),
    ([L.SimpleRNN(4, activation="selu")], "activation='selu'"),
    ([L.GRU(4, recurrent_activation="hard_sigmoid")], "recurrent_activation='hard_sigmoid'"),
    ([L.LSTM(4, go_backwards=True)], "go_backwards=True"),
    ([L.Conv1D(4, 2)], "Conv1D"),
    ([L.LSTM(4, return_sequences=True), L.GRU(3)], "differ in kind"),
    ([L.LSTM(4), L.Dense(2, activation="relu")], "activation='relu'"),
    ([L.Bidirectional(L.LSTM(4), merge_mode="sum")], "merge_mode='sum'"),
])
def test_what_a_sequence_model_cannot_express_is_refused_by_name(layers, named):
    k = keras.Sequential([keras.Input((T, I)), *layers])
    with pytest.raises(ValueError) as error:
        from_keras(k)
    assert named in str(error.value)
    assert "\n" not in str(error.value)


def test_not_keras_a_functional_model_or_an_unbuilt_layer_is_refused():
    with pytest.raises(TypeError, match="Keras 3 layer"):
        from_keras(object())
    inputs = keras.Input((T, I))
    with pytest.raises(ValueError, match="reads a keras.Sequential"):
        from_keras(keras.Model(inputs, L.Dense(1)(L.LSTM(4)(inputs))))
    with pytest.raises(ValueError, match="is not built"):
        from_keras(L.LSTM(4))

"""Exact weight transfer with Keras 3 (any backend): ``from_keras`` and ``to_keras``.

    model, params = rnn_jax.from_keras(keras_model)      # a SequenceModel and its parameters
    rnn_jax.to_keras(params, keras_model)                # and back, into a built Keras model

What is understood, as a ``keras.Sequential`` or a single layer:

* ``SimpleRNN`` (tanh or relu), ``LSTM`` (tanh, sigmoid gates), ``GRU`` with either
  ``reset_after``, each with or without biases; several stacked (the same kind and
  options, every one but the last with ``return_sequences=True``), each optionally inside
  ``Bidirectional(merge_mode="concat")``;
* ``Dropout`` between recurrent layers (one rate: ``SequenceModel.dropout``) and after the
  last (``output_dropout``); ``Masking`` before the first;
* one ``Dense`` head at the end, on the last output or (after ``return_sequences=True``) at
  every step. Its activation is not part of the SequenceModel, whose head gives logits as
  the losses expect: for ``Dense(..., activation="sigmoid")``, the Keras prediction is
  ``jax.nn.sigmoid(model.apply(params, x))`` (``softmax`` likewise).

Keras's ``Masking`` skips the steps whose features all equal ``mask_value``; a SequenceModel
takes ``lengths`` instead, so post-padded sequences give the same outputs with
``model.apply(params, x, lengths)`` (:func:`lengths_from_mask` computes them).

Anything else (another layer, ``recurrent_dropout``, an input ``dropout`` inside the
recurrent layer, ``stateful``, ``go_backwards`` outside ``Bidirectional``, other
activations) is refused with a ``ValueError`` naming it.

Layouts: Keras keeps ``kernel[i, G*h]``, ``recurrent_kernel[h, G*h]`` and ``bias[G*h]``
(reset-after GRU: ``bias[2, 3h]``, input and recurrent); ours are PyTorch's transposes. The
LSTM gate order is the same (i, f, c, o); Keras's GRU orders the gates z, r, h where ours
are r, z, n, and both keep the old state with z.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from rnn_jax.model import Direction, SequenceModel

class _Kind(NamedTuple):
    """What a Keras recurrent layer class is here."""

    cell: str  # our cell's name
    activations: tuple[str, ...]  # the activations our cell has ("relu" becomes an option)
    gated: bool  # has a recurrent_activation (sigmoid here)
    order: tuple[int, ...] | None  # our gate blocks from Keras's; None: the same order
    reset_after: bool  # has Keras's reset_after switch


_KINDS = {
    "SimpleRNN": _Kind("rnn", ("tanh", "relu", "linear"), False, None, False),
    "LSTM": _Kind("lstm", ("tanh",), True, None, False),
    "GRU": _Kind("gru", ("tanh",), True, (1, 0, 2), True),  # ours (r, z, n) from Keras's (z, r, h): an involution
}
_OUTPUT_ACTIVATIONS = ("linear", "sigmoid", "softmax")


def _name(fn) -> str:
    return getattr(fn, "__name__", repr(fn))


def _layers(layer_or_model) -> list:
    import keras

    if isinstance(layer_or_model, keras.Sequential):
        layers = [layer for layer in layer_or_model.layers if not isinstance(layer, keras.layers.InputLayer)]
    elif isinstance(layer_or_model, keras.Model):
        raise ValueError(f"{type(layer_or_model).__name__} {layer_or_model.name!r}: from_keras reads a keras.Sequential "
                         "or a single layer; rebuild a functional model as a Sequential")
    elif isinstance(layer_or_model, keras.layers.Layer):
        layers = [layer_or_model]
    else:
        raise TypeError(f"expected a Keras 3 layer or keras.Sequential, got {type(layer_or_model).__name__}")
    for layer in layers:
        if not layer.built:
            raise ValueError(f"Keras layer {layer.name!r} is not built: call the model on an input (or give it "
                             "keras.Input(shape)) first, so its weights exist")
    return layers


def _recurrent(layer) -> tuple[Any, bool]:
    """``(the recurrent layer, bidirectional)`` of a layer, or ``(None, False)``."""
    import keras

    if isinstance(layer, keras.layers.Bidirectional):
        if layer.merge_mode != "concat":
            raise ValueError(f"Bidirectional {layer.name!r} has merge_mode={layer.merge_mode!r}; only 'concat' is expressible")
        return layer.forward_layer, True
    if type(layer).__name__ in _KINDS:
        return layer, False
    return None, False


def _options(layer, bidirectional: bool) -> tuple[_Kind, dict[str, Any]]:
    """The kind and cell options of a Keras recurrent layer, or a ValueError naming what is not expressible."""
    kind = _KINDS.get(type(layer).__name__)
    if kind is None:
        raise ValueError(f"Keras layer {layer.name!r} ({type(layer).__name__}) has no counterpart")
    where = f"{type(layer).__name__} {layer.name!r}"
    for attribute in ("recurrent_dropout", "dropout"):
        if getattr(layer, attribute, 0.0):
            raise ValueError(f"{where} has {attribute}={getattr(layer, attribute)}; SequenceModel has no "
                             f"{'recurrent' if attribute == 'recurrent_dropout' else 'per-layer input'} dropout")
    if layer.stateful:
        raise ValueError(f"{where} is stateful; SequenceModel starts every sequence from zeros")
    if layer.return_state:
        raise ValueError(f"{where} has return_state=True; only its outputs are expressible")
    if layer.go_backwards and not bidirectional:
        raise ValueError(f"{where} has go_backwards=True; only Bidirectional runs a layer backwards here")
    activation = _name(layer.activation)
    if activation not in kind.activations:
        raise ValueError(f"{where} has activation={activation!r}, which our {kind.cell} cell does not have")
    if kind.gated and _name(layer.recurrent_activation) != "sigmoid":
        raise ValueError(f"{where} has recurrent_activation={_name(layer.recurrent_activation)!r}; ours is 'sigmoid'")
    options: dict[str, Any] = {"init": "keras"}
    if activation != kind.activations[0]:
        options["activation"] = activation
    if kind.reset_after:
        options["reset_after"] = bool(layer.reset_after)
    if not layer.use_bias:
        options["bias"] = False
    return kind, options


def _cell_params(layer, kind: _Kind) -> dict[str, jnp.ndarray]:
    weights = [np.asarray(w) for w in layer.get_weights()]
    kernel, recurrent = weights[0], weights[1]
    params = {"w_ih": _reorder(kernel.T, kind), "w_hh": _reorder(recurrent.T, kind)}
    if len(weights) == 3:
        bias = weights[2]
        if bias.ndim == 2:  # the reset-after GRU's [2, 3h]: input and recurrent biases
            params["b_ih"], params["b_hh"] = _reorder(bias[0], kind), _reorder(bias[1], kind)
        else:
            params["b_ih"] = _reorder(bias, kind)
    return {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}


def _reorder(array: np.ndarray, kind: _Kind) -> np.ndarray:
    """Gate blocks along axis 0 between Keras's order and ours (the GRU's swap is its own inverse)."""
    if kind.order is None:
        return array
    blocks = np.split(array, len(kind.order), axis=0)
    return np.concatenate([blocks[i] for i in kind.order], axis=0)


def _structure(layers) -> dict[str, Any]:
    """Reads the chain of layers: the recurrent layers, the head and the dropout rates."""
    import keras

    recurrent, head, dropouts = [], None, {}  # dropouts: {recurrent layers before it: rate}
    for i, layer in enumerate(layers):
        inner, bidirectional = _recurrent(layer)
        if isinstance(layer, keras.layers.Masking):
            if recurrent:
                raise ValueError(f"Masking {layer.name!r} must come before the first recurrent layer")
        elif isinstance(layer, keras.layers.Dropout):
            if not recurrent or head is not None or len(recurrent) in dropouts:
                raise ValueError(f"Dropout {layer.name!r} must follow a recurrent layer, one per gap, before the head")
            dropouts[len(recurrent)] = float(layer.rate)
        elif inner is not None:
            if head is not None:
                raise ValueError(f"{type(layer).__name__} {layer.name!r} follows the Dense head")
            recurrent.append((layer, inner, bidirectional))
        elif isinstance(layer, keras.layers.Dense):
            if head is not None or not recurrent or i != len(layers) - 1:
                raise ValueError(f"Dense {layer.name!r} must be the one last layer, after the recurrent layers")
            if _name(layer.activation) not in _OUTPUT_ACTIVATIONS:
                raise ValueError(f"Dense {layer.name!r} has activation={_name(layer.activation)!r}; a head may only "
                                 f"end in one of {_OUTPUT_ACTIVATIONS} (applied to the logits by the caller)")
            if not layer.use_bias:
                raise ValueError(f"Dense {layer.name!r} has use_bias=False; the SequenceModel head has a bias")
            head = layer
        else:
            raise ValueError(f"Keras layer {layer.name!r} ({type(layer).__name__}) has no counterpart in a "
                             "SequenceModel (expressible: SimpleRNN, LSTM, GRU, Bidirectional, Dropout, Masking, Dense)")
    if not recurrent:
        raise ValueError("the Keras model has no SimpleRNN, LSTM or GRU layer")
    gaps = [dropouts.get(k, 0.0) for k in range(1, len(recurrent))]
    if len(set(gaps)) > 1:
        raise ValueError(f"the dropout between recurrent layers is {gaps}; SequenceModel.dropout is one rate for "
                         "every gap between layers")
    return {"recurrent": recurrent, "head": head, "dropout": gaps[0] if gaps else 0.0,
            "output_dropout": dropouts.get(len(recurrent), 0.0)}


def _model(layers) -> tuple[SequenceModel, dict[str, Any]]:
    found = _structure(layers)
    recurrent = found["recurrent"]
    cells = [(_options(inner, bidirectional), bidirectional) for _, inner, bidirectional in recurrent]
    cells += [(_options(layer.backward_layer, True), True) for layer, _, bidirectional in recurrent if bidirectional]
    if any(c != cells[0] for c in cells):
        raise ValueError("the recurrent layers differ in kind, options or direction; a SequenceModel has one cell "
                         f"for every layer: {[type(inner).__name__ for _, inner, _ in recurrent]}")
    (kind, options), bidirectional = cells[0]  # Keras itself refuses a layer without return_sequences before another
    head = found["head"]
    model = SequenceModel(
        cell=kind.cell,
        hidden_size=tuple(inner.units for _, inner, _ in recurrent),
        output_size=None if head is None else int(head.units),
        bidirectional=bidirectional,
        dropout=found["dropout"],
        output_dropout=found["output_dropout"],
        readout="all" if recurrent[-1][1].return_sequences else "last",
        cell_options=options,
    )
    return model, {"recurrent": recurrent, "head": head, "kind": kind}


def from_keras(layer_or_model: Any) -> tuple[SequenceModel, dict[str, Any]]:
    """Reads a built Keras 3 recurrent model into a :class:`SequenceModel` and its parameters.

    Args:
        layer_or_model: a ``keras.Sequential`` of the layers listed in the module docstring,
            or a single ``SimpleRNN`` / ``LSTM`` / ``GRU`` / ``Bidirectional`` layer.

    Returns:
        ``(model, params)`` with ``model.apply(params, x, lengths)`` equal to the Keras
        model's output on batch-major ``x`` (before a sigmoid or softmax head activation).

    Raises:
        ValueError: a layer or setting that a SequenceModel does not express (named).
        TypeError: not a Keras layer or model.
    """
    model, found = _model(_layers(layer_or_model))
    layers = []
    for layer, inner, bidirectional in found["recurrent"]:
        sides = (layer.forward_layer, layer.backward_layer) if bidirectional else (inner,)
        layers.append({d.value: _cell_params(side, found["kind"]) for d, side in zip(Direction.of(bidirectional), sides)})
    params: dict[str, Any] = {"layers": layers}
    if found["head"] is not None:
        kernel, bias = (np.asarray(w) for w in found["head"].get_weights())
        params["head"] = {"w": jnp.asarray(kernel.T, jnp.float32), "b": jnp.asarray(bias, jnp.float32)}
    return model, params


def to_keras(params: dict[str, Any], layer_or_model: Any) -> Any:
    """Copies ``params`` into a built Keras model of the same structure (in place).

    Args:
        params: parameters of the :class:`SequenceModel` that :func:`from_keras` reads from
            ``layer_or_model`` (the same layers, sizes, directions, biases and head).
        layer_or_model: a built ``keras.Sequential`` or recurrent layer.

    Returns:
        ``layer_or_model``, with its weights replaced.

    Raises:
        ValueError: the structures or a shape differ.
    """
    _, found = _model(_layers(layer_or_model))
    kind = found["kind"]
    if len(params.get("layers", ())) != len(found["recurrent"]):
        raise ValueError(f"params has {len(params.get('layers', ()))} layers, the Keras model {len(found['recurrent'])}")
    if ("head" in params) != (found["head"] is not None):
        raise ValueError(f"params {'has' if 'head' in params else 'has no'} head, the Keras model "
                         f"{'has a Dense head' if found['head'] is not None else 'has none'}")
    updates = []
    for k, ((layer, inner, bidirectional), ours) in enumerate(zip(found["recurrent"], params["layers"])):
        sides = (layer.forward_layer, layer.backward_layer) if bidirectional else (inner,)
        for direction, side in zip(Direction.of(bidirectional), sides):
            if direction.value not in ours:
                raise ValueError(f"params['layers'][{k}] has no {direction.value!r} direction; the Keras layer "
                                 f"{layer.name!r} is {'bidirectional' if bidirectional else 'forward only'}")
            p = {name: np.asarray(v) for name, v in ours[direction.value].items()}
            weights = [_reorder(p["w_ih"], kind).T, _reorder(p["w_hh"], kind).T]
            current = side.get_weights()
            two_biases = len(current) == 3 and current[2].ndim == 2  # the reset-after GRU's [2, 3h]
            if two_biases and "b_ih" in p:
                weights.append(np.stack([_reorder(p["b_ih"], kind), _reorder(p.get("b_hh", 0 * p["b_ih"]), kind)]))
            elif "b_ih" in p:
                weights.append(_reorder(p["b_ih"] + p.get("b_hh", 0.0), kind))  # Keras has one bias
            updates.append((side, weights, f"params['layers'][{k}][{direction.value!r}]"))
    if found["head"] is not None:
        updates.append((found["head"], [np.asarray(params["head"]["w"]).T, np.asarray(params["head"]["b"])],
                        "params['head']"))
    for target, weights, where in updates:  # every shape is checked before any weight changes
        expected = [tuple(w.shape) for w in target.get_weights()]
        if [tuple(w.shape) for w in weights] != expected:
            raise ValueError(f"{where}: shapes {[tuple(w.shape) for w in weights]} do not fit Keras layer "
                             f"{target.name!r} {expected}")
    for target, weights, _ in updates:
        target.set_weights([w.astype(np.float32) for w in weights])
    return layer_or_model


def lengths_from_mask(inputs: Any, mask_value: float = 0.0) -> jnp.ndarray:
    """``[*b]`` lengths of post-padded ``inputs[*b, t, i]`` as Keras's ``Masking(mask_value)``
    sees them: the steps before the first step whose features all equal ``mask_value``...
    for sequences whose padding is only at the end (the one case lengths express)."""
    inputs = np.asarray(inputs)
    kept = np.any(inputs != mask_value, axis=-1)  # [*b, t]
    lengths = kept.sum(axis=-1)
    if not np.all(kept == (np.arange(inputs.shape[-2]) < lengths[..., None])):
        raise ValueError("inputs has masked steps before unmasked ones; lengths express padding at the end only")
    if np.any(lengths == 0):
        raise ValueError("inputs has a sequence whose every step is masked; lengths must be >= 1")
    return jnp.asarray(lengths, jnp.int32)

"""Exact weight transfer to and from ``torch.nn.RNN`` / ``LSTM`` / ``GRU``.

Our cells use PyTorch's layout and gate order, so transfer is a copy: ``weight_ih_l{k}`` ->
``layers[k]["fwd"]["w_ih"]`` and so on, ``..._reverse`` -> ``"bwd"``. torch is imported only
by these functions (``pip install -e ".[torch]"``).

    model, params = from_torch(torch_lstm)      # SequenceModel with readout="all", no head
    outputs = model.apply(params, x)            # == torch_lstm(x)[0] (batch-major x)
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from rnn_jax.model import Direction, SequenceModel

_NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}
_MODES = {"RNN_TANH": ("rnn", {"activation": "tanh"}), "RNN_RELU": ("rnn", {"activation": "relu"}),
          "LSTM": ("lstm", {}), "GRU": ("gru", {})}


def _check_module(module: Any) -> None:
    import torch

    if not isinstance(module, torch.nn.RNNBase):
        raise TypeError(f"module must be a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if module.mode not in _MODES:
        raise ValueError(f"module.mode={module.mode!r} is not supported; expected one of {sorted(_MODES)}")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"module.proj_size={module.proj_size} is not supported (LSTM with projections)")


def _torch_name(ours: str, layer: int, direction: str) -> str:
    return f"{_NAMES[ours]}_l{layer}{'_reverse' if Direction(direction).reverse else ''}"


def from_torch(module: Any) -> tuple[SequenceModel, dict[str, Any]]:
    """Reads a torch recurrent module into a :class:`SequenceModel` and its parameters.

    Args:
        module: ``torch.nn.RNN``, ``torch.nn.LSTM`` or ``torch.nn.GRU`` (any number of layers,
            bidirectional or not, with or without biases).

    Returns:
        ``(model, params)``: ``model`` has ``readout="all"`` and no head, so
        ``model.apply(params, x)`` equals the module's output sequence for batch-major ``x``
        (whatever the module's ``batch_first``); ``dropout`` is carried over.
    """
    _check_module(module)
    cell, options = _MODES[module.mode]
    if not module.bias:
        options = {**options, "bias": False}
    model = SequenceModel(
        cell=cell,
        hidden_size=module.hidden_size,
        num_layers=module.num_layers,
        output_size=None,
        bidirectional=module.bidirectional,
        dropout=float(module.dropout),
        readout="all",
        cell_options=options,
    )
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    directions = [d.value for d in Direction.of(module.bidirectional)]
    layers = []
    for k in range(module.num_layers):
        layers.append({
            d: {ours: jnp.asarray(state[_torch_name(ours, k, d)]) for ours in _NAMES if _torch_name(ours, k, d) in state}
            for d in directions
        })
    return model, {"layers": layers}


def to_torch(params: dict[str, Any], module: Any) -> Any:
    """Copies ``params`` (from :meth:`SequenceModel.init` or :func:`from_torch`) into ``module``.

    Any ``"head"`` in ``params`` is ignored: torch recurrent modules have none.

    Args:
        params: parameters with ``params["layers"][k]["fwd" | "bwd"]``.
        module: a torch recurrent module with matching sizes; modified in place.

    Returns:
        ``module``.

    Raises:
        ValueError: the layer count, directions, biases or a shape do not match.
    """
    import torch

    _check_module(module)
    layers = params["layers"]
    if len(layers) != module.num_layers:
        raise ValueError(f"params has {len(layers)} layers, module.num_layers={module.num_layers}")
    state = module.state_dict()
    expected = set(state)
    given = set()
    for k, layer in enumerate(layers):
        for direction, cell_params in layer.items():
            for ours, value in cell_params.items():
                name = _torch_name(ours, k, direction)
                if name not in state:
                    raise ValueError(f"params['layers'][{k}][{direction!r}][{ours!r}] has no counterpart {name!r} in the module")
                if tuple(state[name].shape) != tuple(value.shape):
                    raise ValueError(f"{name}: module shape {tuple(state[name].shape)} != params shape {tuple(value.shape)}")
                given.add(name)
    if given != expected:
        raise ValueError(f"params do not cover the module's {sorted(expected - given)}")
    with torch.no_grad():
        for k, layer in enumerate(layers):
            for direction, cell_params in layer.items():
                for ours, value in cell_params.items():
                    state[_torch_name(ours, k, direction)].copy_(torch.from_numpy(np.array(value, dtype=np.float32)))
    return module

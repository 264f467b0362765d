"""Bridges to other libraries, one file per library and direction:

* :mod:`.torch` -- weights both ways with ``torch.nn.RNN/LSTM/GRU`` (``from_torch``, ``to_torch``);
* :mod:`.keras` -- weights both ways with Keras 3 models (``rnn_jax.from_keras``, ``to_keras``;
  imported only when used, so Keras stays optional);
* :mod:`.flax_weights` -- weights both ways with Flax's built-in cells;
* :mod:`.as_flax_modules` -- our cells as Flax modules (``FlaxCell``, ``LinenCell``).

Flax cells become our cells through :func:`rnn_jax.cells.from_flax`.
"""

from rnn_jax.interop.flax_weights import from_flax_params, to_flax_params
from rnn_jax.interop.torch import from_torch, to_torch

__all__ = ["from_flax_params", "from_torch", "to_flax_params", "to_torch"]

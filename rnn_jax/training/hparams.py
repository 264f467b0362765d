"""The hyperparameters a run takes as arrays, so that a runner can sweep them without
recompiling.

* The optimizer's injected arguments (:mod:`rnn_jax.optimizer`): every float
  written in its ``Optax(...)`` tree, by path (``"1.learning_rate"``) or, where only one node
  has it, by name (``"learning_rate"``).
* ``recurrent_scale`` multiplies every layer's ``w_hh`` at initialisation (the cell option
  of that name, as an array); it has no default and is applied only when given.
"""

from __future__ import annotations

RECURRENT_SCALE = "recurrent_scale"

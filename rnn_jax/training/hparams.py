"""The hyperparameters a run takes as arrays, so that a runner can sweep them without
recompiling: the one definition of their names.

* ``learning_rate`` and ``clip`` are *injected*: they live in the optax state
  (``optax.inject_hyperparams``) and default to the :class:`~rnn_jax.training.optim.OptimConfig`
  fields of the same names.
* ``recurrent_scale`` multiplies every layer's ``w_hh`` at initialisation (the cell option
  of that name, as an array); it has no default and is applied only when given.
"""

from __future__ import annotations

LEARNING_RATE = "learning_rate"
CLIP = "clip"
RECURRENT_SCALE = "recurrent_scale"

INJECTED = (LEARNING_RATE, CLIP)
SWEEPABLE = (*INJECTED, RECURRENT_SCALE)

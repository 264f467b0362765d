"""Training: the configuration (:mod:`.config`; its gradient, :mod:`.gradient`), the pure training functions (:mod:`.trainer`),
the state (:mod:`.state`), the swept hyperparameters
(:mod:`.hparams`; the optimizer itself is :mod:`rnn_jax.optimizer`), Pascanu's regulariser
(:mod:`.regularizers`) and the replay that locates a NaN (:mod:`.nonfinite`).

    from rnn_jax.training import Gradient, TrainConfig, make_train, model_for

The host loop over them is :func:`rnn_jax.run` (and :func:`rnn_jax.fit`, one run of it).
"""

from rnn_jax.training.config import TrainConfig, model_for
from rnn_jax.training.gradient import Gradient
from rnn_jax.training.state import History, TrainState
from rnn_jax.training.trainer import Trainer, make_train

__all__ = ["Gradient", "History", "TrainConfig", "TrainState", "Trainer", "make_train", "model_for"]

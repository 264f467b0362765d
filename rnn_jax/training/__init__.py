"""Training: the configuration, the pure training functions, ``fit``, the optimiser chain
(:mod:`.optim`), the swept hyperparameters (:mod:`.hparams`) and Pascanu's regulariser
(:mod:`.regularizers`).

    from rnn_jax.training import TrainConfig, fit, make_train, model_for
"""

from rnn_jax.training.trainer import History, TrainConfig, Trainer, TrainState, fit, make_train, model_for

__all__ = ["History", "TrainConfig", "TrainState", "Trainer", "fit", "make_train", "model_for"]

"""MNIST-1D (Greydanus & Kobak 2024): 10 classes of procedurally generated 1-D signals, T = 40.

Generated offline with ``mnist1d.data.make_dataset(get_dataset_args())`` (never
``get_dataset``, which downloads): 4000 training and 1000 test sequences, one feature per
step, cross-entropy on the last step. Reported (their paper): GRU 91% test accuracy (a
bidirectional GRU reading all 40 outputs), CNN 94%, MLP 68%, logistic regression 32%.
"""

from __future__ import annotations

import functools

import numpy as np

from rnn_jax import _checks
from rnn_jax.tasks.arrays import ArrayTask


@functools.lru_cache(maxsize=4)
def _generate(seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    return make_dataset(args)


def mnist1d(*, seed: int = 42) -> ArrayTask:
    """The MNIST-1D task.

    Args:
        seed: the generator's seed (42 is the published dataset's).

    Returns:
        An :class:`~rnn_jax.tasks.arrays.ArrayTask` named ``"mnist1d"``.
    """
    _checks.nonneg_int(seed, "seed")
    data = _generate(seed)
    x, x_test = (np.asarray(data[k], np.float32)[..., None] for k in ("x", "x_test"))
    return ArrayTask(
        x,
        np.asarray(data["y"], np.int32),
        loss="ce",
        num_classes=10,
        validation=(x_test, np.asarray(data["y_test"], np.int32)),
        name="mnist1d",
    )

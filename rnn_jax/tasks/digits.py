"""Sequential digits: scikit-learn's bundled 8×8 digits read one pixel per step (T = 64).

A small offline stand-in for sequential MNIST (Le et al. 2015): 1797 images shipped with
scikit-learn (``sklearn.datasets.load_digits``, no download), pixel values scaled to [0, 1],
10 classes, cross-entropy on the last step. ``permuted=True`` reads the pixels in a fixed
random order (the "permuted" variant, which destroys local structure and so needs longer
memory). The train/test split is fixed (``test_fraction`` of the images, chosen by ``seed``).
The baseline is the entropy of the training class prior (about ln 10).
"""

from __future__ import annotations

import functools

import numpy as np

from rnn_jax import _checks
from rnn_jax.tasks.arrays import ArrayTask

SEQ_LEN = 64


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int32)


def digits(*, permuted: bool = False, seed: int = 0, test_fraction: float = 0.2) -> ArrayTask:
    """The sequential (or permuted) digits task.

    Args:
        permuted: read the 64 pixels in a fixed random order (from ``seed``).
        seed: fixes both the train/test split and the pixel permutation.
        test_fraction: share of the 1797 images held out for evaluation.

    Returns:
        An :class:`~rnn_jax.tasks.arrays.ArrayTask` named ``"digits"`` or ``"digits_permuted"``.
    """
    if not isinstance(permuted, bool):
        raise TypeError(f"permuted={permuted!r} must be a bool")
    _checks.nonneg_int(seed, "seed")
    _checks.number(test_fraction, "test_fraction", low=0.0, high=1.0, low_open=True, high_open=True)
    pixels, labels = _load()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    if permuted:
        pixels = pixels[:, rng.permutation(SEQ_LEN)]
    sequences = pixels[..., None]  # [n, 64, 1]
    return ArrayTask(
        sequences[train],
        labels[train],
        loss="ce",
        num_classes=10,
        validation=(sequences[test], labels[test]),
        name="digits_permuted" if permuted else "digits",
    )

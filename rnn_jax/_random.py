"""Random draws that compile quickly under ``vmap``.

XLA:CPU (jaxlib 0.10) compiles a Threefry draw of three or more dimensions about five
times slower than a flat one: 0.6 vs 0.12 s for ``jax.random.bits`` of shape (16, 64, 16)
vs (16384,). A 2-D draw inside a function that the runner vmaps over members becomes 3-D,
so every draw in a training step (batches, dropout, initial weights) paid this on each
compilation. Threefry numbers the elements of a draw by their row-major index (in both the
partitionable and the original implementation), so drawing ``prod(shape)`` values and
reshaping gives the same numbers; ``tests/test_random.py`` checks this for every sampler
used here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax


def draw(sampler: Callable[..., jax.Array], key, shape: Sequence[int], **options) -> jax.Array:
    """``sampler(key, shape=shape, **options)``, drawn flat and reshaped (the same values).

    ``sampler`` is a ``jax.random`` function that takes ``shape`` as a keyword
    (``uniform``, ``normal``, ``randint``, ``bernoulli``...); its bounds and probabilities
    must be scalars.
    """
    shape = tuple(shape)
    return sampler(key, shape=(math.prod(shape),), **options).reshape(shape)

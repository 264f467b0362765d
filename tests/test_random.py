"""``_random.draw`` (flat draw, reshaped) gives exactly the values of the direct draw."""

import jax
import numpy as np
import pytest

from rnn_jax._random import draw

KEY = jax.random.key(7)

SAMPLERS = {
    "uniform": (jax.random.uniform, {"minval": -0.3, "maxval": 0.3}),
    "normal": (jax.random.normal, {}),
    "randint": (jax.random.randint, {"minval": 1, "maxval": 9}),
    "bernoulli": (jax.random.bernoulli, {"p": 0.7}),
}


@pytest.mark.parametrize("partitionable", [True, False])
@pytest.mark.parametrize("shape", [(3, 7), (2, 1, 4)])
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_flat_draw_equals_the_direct_draw(name, shape, partitionable):
    sampler, options = SAMPLERS[name]
    with jax.threefry_partitionable(partitionable):
        direct = sampler(KEY, shape=shape, **options)
        flat = draw(sampler, KEY, shape, **options)
        vmapped = jax.vmap(lambda k: draw(sampler, k, shape, **options))(jax.random.split(KEY, 3))
        direct_vmapped = jax.vmap(lambda k: sampler(k, shape=shape, **options))(jax.random.split(KEY, 3))
    assert flat.shape == shape and flat.dtype == direct.dtype
    np.testing.assert_array_equal(flat, direct)
    np.testing.assert_array_equal(vmapped, direct_vmapped)
    if name != "bernoulli":  # the draw is not constant (a broken reshape could still match a constant)
        assert np.unique(np.asarray(flat)).size > 1

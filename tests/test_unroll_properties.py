"""Property-based tests of ``unroll`` (hypothesis): random cells, batch shapes, lengths and
padding. Values are compared in float64 so that equalities of the same arithmetic are tight.

- masked == trimmed: each sequence run with ``lengths`` equals it run alone, cut to its length;
- outputs past a sequence's length are zero, and the final carry is the carry at length - 1;
- padding (any values, any amount) never changes a result;
- reversing the valid part twice is the identity, and ``reverse=True`` equals running the
  valid-part-reversed inputs forwards.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax import enable_x64

from rnn_jax import cells, unroll
from rnn_jax.unroll.masks import reverse_valid

SPECS = [("rnn", {}), ("irnn", {}), ("lstm", {}), ("gru", {}), ("gru", {"reset_after": False}),
         ("rnn", {"activation": "relu"})]
pytestmark = pytest.mark.slow  # ~45 s each on 2 cores; CI runs `pytest -m slow` on every submission
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    name, options = draw(st.sampled_from(SPECS))
    batch_shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    seq_len = draw(st.integers(1, 6))
    input_size = draw(st.integers(1, 3))
    hidden = draw(st.integers(1, 4))
    count = int(np.prod(batch_shape))
    lengths = np.asarray(draw(st.lists(st.integers(1, seq_len), min_size=count, max_size=count)),
                         np.int32).reshape(batch_shape)
    seed = draw(st.integers(0, 2**16))
    return name, options, batch_shape, seq_len, input_size, hidden, lengths, seed


def _build(problem):
    name, options, batch_shape, seq_len, input_size, hidden, lengths, seed = problem
    cell = cells.get(name, **options)
    k_p, k_x, k_perturb = jax.random.split(jax.random.key(seed), 3)
    params = cell.init(k_p, input_size, hidden, dtype=jnp.float64)
    # perturb (IRNN starts at the identity and zero biases, too tame to show bugs)
    params = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(k_perturb, a.shape, a.dtype), params)
    xs = jax.random.normal(k_x, (*batch_shape, seq_len, input_size), jnp.float64)
    return cell, params, xs, jnp.asarray(lengths)


def _each(batch_shape):
    return np.ndindex(*batch_shape)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(problems(), st.booleans())
def test_masked_equals_trimmed_and_final_carry_is_the_carry_at_length_minus_one(problem, reverse):
    with enable_x64():
        cell, params, xs, lengths = _build(problem)
        final, hs = unroll(cell, params, xs, lengths=lengths, reverse=reverse)
        for b in _each(lengths.shape):
            n = int(lengths[b])
            alone_final, alone_hs = unroll(cell, params, xs[b][:n], reverse=reverse)
            _close(hs[b][:n], alone_hs)
            _close(hs[b][n:], 0.0)
            for leaf, alone in zip(jax.tree.leaves(final), jax.tree.leaves(alone_final)):
                _close(leaf[b], alone)
            if not reverse:  # the hidden state emitted at step length - 1 is the final one
                _close(cell.hidden(final)[b], hs[b][n - 1])


@SETTINGS
@given(problems(), st.integers(1, 4), st.booleans())
def test_padding_never_changes_a_result(problem, extra, reverse):
    with enable_x64():
        cell, params, xs, lengths = _build(problem)
        final, hs = unroll(cell, params, xs, lengths=lengths, reverse=reverse)
        garbage = 1e3 * jax.random.normal(jax.random.key(extra), (*xs.shape[:-2], extra, xs.shape[-1]), xs.dtype)
        padded_final, padded_hs = unroll(cell, params, jnp.concatenate([xs, garbage], axis=-2), lengths=lengths,
                                         reverse=reverse)
        _close(padded_hs[..., : xs.shape[-2], :], hs)
        _close(padded_hs[..., xs.shape[-2]:, :], 0.0)
        for a, b in zip(jax.tree.leaves(padded_final), jax.tree.leaves(final)):
            _close(a, b)
        # the padding inside the original length is ignored too: overwrite it
        seq = jnp.arange(xs.shape[-2], dtype=lengths.dtype).reshape((1,) * lengths.ndim + (-1,))
        mask = (seq < lengths[..., None])[..., None]
        _, scrambled_hs = unroll(cell, params, jnp.where(mask, xs, -xs - 7.0), lengths=lengths, reverse=reverse)
        _close(scrambled_hs, hs)


@SETTINGS
@given(problems())
def test_reverse_twice_is_identity_on_the_valid_part(problem):
    with enable_x64():
        cell, params, xs, lengths = _build(problem)
        xs_t = jnp.moveaxis(xs, -2, 0)
        once = reverse_valid(xs_t, lengths)
        _close(reverse_valid(once, lengths), xs_t)
        for b in _each(lengths.shape):
            n = int(lengths[b])
            _close(once[(slice(None), *b)][:n], xs_t[(slice(None), *b)][:n][::-1])
        # running backwards == running the valid-part-reversed inputs forwards, outputs mapped back
        final, hs = unroll(cell, params, xs, lengths=lengths, reverse=True)
        flipped = jnp.moveaxis(once, 0, -2)
        final_f, hs_f = unroll(cell, params, flipped, lengths=lengths)
        _close(hs, jnp.moveaxis(reverse_valid(jnp.moveaxis(hs_f, -2, 0), lengths), 0, -2))
        for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(final_f)):
            _close(a, b)

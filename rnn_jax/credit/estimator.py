"""What every forward-mode rule is: an influence trace carried along one sequence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class Estimator(NamedTuple):
    """A forward-mode rule on one sequence, as pure functions of flat arrays
    (:class:`~rnn_jax.credit.flat_step.FlatStep`'s ``θ[P]``, ``s[S]``).

    Attributes:
        init: ``() -> trace``, the trace before the first step (zero influence).
        update: ``(θ, s_{t-1}, x_t, trace, key) -> (s_t, trace)``: the step, and the trace of
            ``∂s_t/∂θ`` (exact, approximate or a random draw).
        credit: ``(trace, c[S]) -> g[P]``: ``c · ∂s_t/∂θ`` as the trace gives it, for the
            loss's derivative ``c`` with respect to ``s_t``.
    """

    init: Callable[[], Any]
    update: Callable[[jax.Array, jax.Array, jax.Array, Any, jax.Array], tuple[jax.Array, Any]]
    credit: Callable[[Any, jax.Array], jax.Array]

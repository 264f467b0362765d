"""The gradient rules: how credit for a loss reaches the parameters through time."""

from __future__ import annotations

import enum


class Rule(enum.StrEnum):
    """A gradient rule (``Gradient(rule=...)`` of a ``TrainConfig``, :func:`rnn_jax.credit.gradients`).

    ``bptt`` runs the recurrence backwards (truncated with ``truncation=k``); the others carry
    the influence of the parameters on the state forwards, so credit needs no stored history
    and the parameters can change in the middle of a stream (``stateful=True``).
    """

    BPTT = "bptt"  # backpropagation through time (Werbos 1990); truncated with truncation=k
    RTRL = "rtrl"  # real-time recurrent learning (Williams & Zipser 1989): exact, [S, P] per sequence
    UORO = "uoro"  # unbiased online recurrent optimisation (Tallec & Ollivier 2018): rank one, unbiased
    SNAP1 = "snap1"  # sparse n-step approximation (Menick et al. 2021), n = 1
    SNAP2 = "snap2"  # ... n = 2
    DIAGONAL = "diagonal"  # exact and cheap for diagonal recurrences (Zucchet et al. 2023)

    @property
    def forward(self) -> bool:
        """Whether the rule carries credit forwards in time (everything but ``bptt``)."""
        return self is not Rule.BPTT

    @property
    def stochastic(self) -> bool:
        """Whether the rule's gradient is a random draw (``uoro``)."""
        return self is Rule.UORO

    @property
    def dense(self) -> bool:
        """Whether the rule keeps a dense ``[state, parameters]`` influence matrix per sequence."""
        return self in (Rule.RTRL, Rule.SNAP1, Rule.SNAP2)

    @property
    def snap_level(self) -> int | None:
        """``n`` of SnAp-n, or ``None``."""
        return {Rule.SNAP1: 1, Rule.SNAP2: 2}.get(self)

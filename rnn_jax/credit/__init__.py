"""How far back credit reaches: gradient rules other than full backpropagation through time.

* Truncated BPTT: ``unroll(..., truncation=k)``, ``SequenceModel.apply(..., truncation=k)``,
  ``TrainConfig(gradient=Gradient(truncation=k))``; with ``stateful=True`` there a sequence is
  a stream cut into windows of ``k`` steps, one update per window, the carry passed along
  (Keras's ``stateful=True``).
* Forward-mode rules, for any cell, from one linearisation of its step per time step
  (:class:`Rule`): ``rtrl`` (exact), ``uoro`` (unbiased, rank one), ``snap1``/``snap2``
  (sparse), ``diagonal`` (exact and cheap on diagonal recurrences). ``TrainConfig(gradient=...)``
  trains with them, and :func:`gradients` computes one.
* :func:`alignment`: a rule's gradient against BPTT's (cosine, variance over draws).

Each rule's page: :mod:`.rtrl`, :mod:`.uoro`, :mod:`.diagonal`; the driver: :mod:`.forward`.
"""

from rnn_jax.credit.alignment import Alignment, alignment
from rnn_jax.credit.forward import MAX_INFLUENCE_BYTES, Stream
from rnn_jax.credit.rules import Rule
from rnn_jax.credit.support import check, gradients

__all__ = ["MAX_INFLUENCE_BYTES", "Alignment", "Rule", "Stream", "alignment", "check", "gradients"]

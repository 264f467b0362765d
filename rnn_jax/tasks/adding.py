"""The adding problem: remember two marked values over a long sequence and add them.

Variants (``variant=``):

* ``"arjovsky"`` (default; Arjovsky, Shah & Bengio 2016, "Unitary evolution recurrent neural
  networks"; also Bai et al. 2018): two input channels, values ~ U[0, 1] and a marker channel
  with exactly two 1s, the first uniform in the first half ``[0, T//2)``, the second uniform in
  the second half ``[T//2, T)``. Target: the sum of the two marked values, read at the last
  step, MSE. Trivial baseline (always predict 1): MSE = Var(x1 + x2) = 2/12 = 1/6 exactly
  (some papers print 0.1767).
* ``"hs97"`` (Hochreiter & Schmidhuber 1997, Exp. 4): values ~ U[-1, 1], marker channel in
  {-1, 0, 1} (-1 on the first and last step unless marked), length uniform in ``[T, 1.1 T]``,
  the first mark in the first 10 steps, the second in the first ``T/2 - 1`` steps (distinct).
  Target ``0.5 + (x1 + x2) / 4``. Trivial baseline (always 0.5): MSE = 2·(1/3)/16 = 1/24.

Both report ``accuracy``: the fraction of sequences with ``|error| < 0.04`` (H&S's criterion).
"""

from __future__ import annotations

import dataclasses
import enum

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.tasks.base import Task
from rnn_jax.types import Batch

TOLERANCE = 0.04  # |error| below which a sequence counts as correct (H&S 1997)


class AddingVariant(enum.StrEnum):
    ARJOVSKY = "arjovsky"
    HS97 = "hs97"


@dataclasses.dataclass(frozen=True)
class Adding(Task):
    """The adding problem.

    Attributes:
        seq_len: ``T``, the sequence length (hs97: the minimum length; batches are padded to
            :attr:`max_len` ``= floor(1.1 T)`` and carry ``lengths``).
        variant: ``"arjovsky"`` (default) or ``"hs97"``, see the module docstring.
        eval_size: sequences in the fixed held-out set.
    """

    seq_len: int = 100
    variant: AddingVariant = AddingVariant.ARJOVSKY
    eval_size: int = 1000

    name = "adding"
    success_metric = "accuracy"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "variant", _checks.choice(AddingVariant, self.variant, "variant"))
        minimum = 24 if self.variant is AddingVariant.HS97 else 2
        if self.seq_len < minimum:
            raise ValueError(
                f"seq_len={self.seq_len} is too short for the {self.variant.value!r} adding problem; "
                f"expected seq_len >= {minimum} (room for both markers in their ranges)"
            )

    input_size = 2
    output_size = 1

    @property
    def max_len(self) -> int:
        """Time steps of a batch: ``seq_len``, or ``floor(1.1 seq_len)`` for hs97."""
        return self.seq_len if self.variant is AddingVariant.ARJOVSKY else int(1.1 * self.seq_len)

    @property
    def baseline_loss(self) -> float:
        return 1.0 / 6.0 if self.variant is AddingVariant.ARJOVSKY else 1.0 / 24.0

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        k_values, k_first, k_second, k_len = jax.random.split(key, 4)
        shape = (batch_size, self.max_len)
        steps = jnp.arange(self.max_len)[None, :]
        if self.variant is AddingVariant.ARJOVSKY:
            half = self.seq_len // 2
            values = draw(jax.random.uniform, k_values, shape)
            first = draw(jax.random.randint, k_first, (batch_size, 1), minval=0, maxval=half)
            second = draw(jax.random.randint, k_second, (batch_size, 1), minval=half, maxval=self.seq_len)
            marked = (steps == first) | (steps == second)
            targets = jnp.sum(jnp.where(marked, values, 0.0), axis=1, keepdims=True)
            lengths = None
            markers = marked.astype(values.dtype)
        else:
            lengths = jax.random.randint(k_len, (batch_size,), self.seq_len, self.max_len + 1)
            valid = steps < lengths[:, None]
            values = jnp.where(valid, draw(jax.random.uniform, k_values, shape, minval=-1.0, maxval=1.0), 0.0)
            first = draw(jax.random.randint, k_first, (batch_size, 1), minval=0, maxval=10)
            second = draw(jax.random.randint, k_second, (batch_size, 1), minval=0, maxval=self.seq_len // 2 - 2)
            second = second + (second >= first).astype(second.dtype)  # uniform over [0, T/2 - 1) without `first`
            marked = (steps == first) | (steps == second)
            ends = (steps == 0) | (steps == lengths[:, None] - 1)
            markers = jnp.where(marked, 1.0, jnp.where(ends & valid, -1.0, 0.0))
            targets = 0.5 + jnp.sum(jnp.where(marked, values, 0.0), axis=1, keepdims=True) / 4.0
        inputs = jnp.stack([values, markers], axis=-1).astype(jnp.float32)
        return Batch(inputs, targets.astype(jnp.float32), lengths)

    def extra_metrics(self, outputs, batch):
        error = jnp.abs(outputs - batch.targets)[:, 0]
        return {"accuracy": jnp.mean((error < TOLERANCE).astype(jnp.float32))}

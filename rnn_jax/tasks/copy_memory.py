"""The copy-memory task: reproduce 10 symbols after a long delay.

Default layout (Arjovsky, Shah & Bengio 2016): alphabet ``{0: blank, 1..8: symbols,
9: delimiter}``, one-hot inputs. Input: 10 symbols uniform in 1..8, then ``T - 1`` blanks,
the delimiter, 10 blanks (``T + 20`` steps). Target: ``T + 10`` blanks, then the 10 symbols.
Loss: cross-entropy averaged over all ``T + 20`` steps. The memoryless baseline predicts
blanks and then a uniform guess over the 8 symbols: ``10 ln 8 / (T + 20)``
(T=100: 0.173, 200: 0.0945, 500: 0.040, 1000: 0.0204).

``accuracy`` is measured on the 10 recalled symbols only.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from rnn_jax._random import draw
from rnn_jax.tasks.base import LossKind, Task
from rnn_jax.types import Batch, Readout

NUM_SYMBOLS = 8
COPY_LENGTH = 10
ALPHABET = NUM_SYMBOLS + 2  # blank + symbols + delimiter
DELIMITER = NUM_SYMBOLS + 1


@dataclasses.dataclass(frozen=True)
class CopyMemory(Task):
    """Copy memory with delay ``T``.

    Attributes:
        delay: ``T``; the sequence has ``T + 20`` steps.
        eval_size: sequences in the fixed held-out set.
    """

    delay: int = 100
    eval_size: int = 1000

    name = "copy"
    readout = Readout.ALL
    loss_kind = LossKind.CE
    success_metric = "accuracy"
    input_size = ALPHABET
    output_size = ALPHABET

    @property
    def seq_len(self) -> int:
        return self.delay + 2 * COPY_LENGTH

    @property
    def baseline_loss(self) -> float:
        return COPY_LENGTH * math.log(NUM_SYMBOLS) / self.seq_len

    def sample(self, key, batch_size: int) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        symbols = draw(jax.random.randint, key, (batch_size, COPY_LENGTH), minval=1, maxval=NUM_SYMBOLS + 1)
        blanks = lambda n: jnp.zeros((batch_size, n), jnp.int32)  # noqa: E731
        delimiter = jnp.full((batch_size, 1), DELIMITER, jnp.int32)
        ids = jnp.concatenate([symbols, blanks(self.delay - 1), delimiter, blanks(COPY_LENGTH)], axis=1)
        targets = jnp.concatenate([blanks(self.delay + COPY_LENGTH), symbols], axis=1)
        return Batch(jax.nn.one_hot(ids, ALPHABET, dtype=jnp.float32), targets, None)

    def extra_metrics(self, outputs, batch):
        recalled = slice(self.seq_len - COPY_LENGTH, None)
        correct = jnp.argmax(outputs[:, recalled], axis=-1) == batch.targets[:, recalled]
        return {"accuracy": jnp.mean(correct.astype(jnp.float32))}

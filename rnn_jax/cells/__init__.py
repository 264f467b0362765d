"""Recurrent cells as pure functions, and their registry.

    >>> from rnn_jax import cells
    >>> cell = cells.get("lstm", forget_bias=1.0)
    >>> cells.available()
    ['antisymmetric', 'cornn', 'exprnn', 'gru', 'indrnn', 'irnn', 'lem', 'lru', 'lstm', 'mingru', 'minlstm', 'rnn', 'scornn', 'urnn']
"""

from rnn_jax.cells.base import (
    Cell,
    LinearRecurrence,
    SplitStep,
    available,
    get,
    register,
)
from rnn_jax.cells.antisymmetric import antisymmetric
from rnn_jax.cells.cornn import cornn
from rnn_jax.cells.exprnn import exprnn
from rnn_jax.cells.from_flax import from_flax
from rnn_jax.cells.gru import gru
from rnn_jax.cells.indrnn import indrnn
from rnn_jax.cells.lem import lem
from rnn_jax.cells.lru import lru
from rnn_jax.cells.lstm import lstm
from rnn_jax.cells.minimal import mingru, minlstm
from rnn_jax.cells.rnn import irnn, rnn
from rnn_jax.cells.scornn import scornn
from rnn_jax.cells.urnn import urnn

for _factory in (rnn, irnn, lstm, gru, exprnn, lru, mingru, minlstm, urnn, scornn, indrnn, cornn, lem, antisymmetric):
    register(_factory.__name__, _factory)
del _factory

__all__ = [
    "Cell",
    "antisymmetric",
    "cornn",
    "LinearRecurrence",
    "SplitStep",
    "available",
    "exprnn",
    "from_flax",
    "get",
    "gru",
    "indrnn",
    "irnn",
    "lem",
    "lru",
    "lstm",
    "mingru",
    "minlstm",
    "register",
    "rnn",
    "scornn",
    "urnn",
]

"""Recurrent cells as pure functions, and their registry.

    >>> from rnn_jax import cells
    >>> cell = cells.get("lstm", forget_bias=1.0)
    >>> cells.available()
    ['gru', 'irnn', 'lstm', 'rnn']
"""

from rnn_jax.cells.base import Cell, available, get, register
from rnn_jax.cells.gru import gru
from rnn_jax.cells.lstm import lstm
from rnn_jax.cells.rnn import irnn, rnn

for _name, _factory in (("rnn", rnn), ("irnn", irnn), ("lstm", lstm), ("gru", gru)):
    register(_name, _factory)
del _name, _factory

__all__ = ["Cell", "available", "get", "gru", "irnn", "lstm", "register", "rnn"]

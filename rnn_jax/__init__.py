"""rnn_jax: pure-JAX recurrent networks for studying long-range learning and vanishing gradients.

The public API, re-exported here:

* :mod:`rnn_jax.cells` -- ``Cell`` and the registry (``cells.get("lstm")``).
* :func:`unroll` -- run a cell over time (lengths, reverse, remat, probes).
* :class:`SequenceModel` -- stacked / bidirectional layers with a readout head.
* :func:`from_torch` / :func:`to_torch` -- exact weight transfer with PyTorch.

Every other module is reachable as an attribute, imported on first use (PEP 562), so
``import rnn_jax`` stays fast: ``rnn_jax.tasks.get("adding")``, ``rnn_jax.runner.run``,
``rnn_jax.results.load``. Importing this package has no side effects (no device or config
changes).
"""

import importlib
import pkgutil

from rnn_jax import cells, initializers
from rnn_jax.cells import Cell
from rnn_jax.interop import from_torch, to_torch
from rnn_jax.model import SequenceModel
from rnn_jax.types import Batch, Readout
from rnn_jax.unroll import unroll

__version__ = "0.1.0"

_LAZY = frozenset(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"rnn_jax.{name}")
    raise AttributeError(f"module 'rnn_jax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)

__all__ = [
    "Batch",
    "Cell",
    "Readout",
    "SequenceModel",
    "cells",
    "from_torch",
    "initializers",
    "to_torch",
    "unroll",
]

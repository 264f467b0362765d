"""rnn_jax: pure-JAX recurrent networks for studying long-range learning and vanishing gradients.

The public API, re-exported here:

* :mod:`rnn_jax.cells` -- ``Cell`` and the registry (``cells.get("lstm")``).
* :func:`unroll` -- run a cell over time (lengths, reverse, remat, probes).
* :class:`SequenceModel` -- stacked / bidirectional layers with a readout head.
* :mod:`rnn_jax.tasks`, :class:`TrainConfig`, :func:`model_for`, :class:`Optax` (the
  optimizer, spelt in optax), :class:`Gradient` (the credit rule, truncation, Ω, flossing),
  :func:`fit` (one run) and :func:`run` (seeds × sweeps).
* :func:`from_torch` / :func:`to_torch` -- exact weight transfer with PyTorch.
* :func:`from_keras` / :func:`to_keras` -- exact weight transfer with Keras 3.

    from rnn_jax import Optax, TrainConfig, cells, fit, model_for, run, tasks, unroll

The package is shelved by layer: ``cells``, ``unroll``, ``model``, ``tasks`` (compute),
``credit`` (truncated BPTT and the forward-mode gradient rules), ``optimizer``, ``training``
and ``runner`` (training), ``runtime`` (the compile cache, memory maps, XLA:CPU's
serialised calls, the watchdog), ``io`` (run directories, checkpoints, configs, results),
``analysis`` (diagnostics, plots) and ``interop`` (PyTorch and Flax). The training names,
every subpackage and the modules of the ``io``, ``analysis``, ``training`` and ``runtime`` shelves (by
their short names: ``rnn_jax.results``, ``rnn_jax.plots``) are imported on first use
(PEP 562), so ``import rnn_jax`` stays fast and has no side effects (no device or config
changes).
"""

import importlib
import pkgutil

from rnn_jax import cells
from rnn_jax.cells import Cell, initializers
from rnn_jax.interop.torch import from_torch, to_torch


def from_keras(layer_or_model):
    """:func:`rnn_jax.interop.keras.from_keras` (Keras is imported only when called)."""
    from rnn_jax.interop import keras

    return keras.from_keras(layer_or_model)


def to_keras(params, layer_or_model):
    """:func:`rnn_jax.interop.keras.to_keras` (Keras is imported only when called)."""
    from rnn_jax.interop import keras

    return keras.to_keras(params, layer_or_model)


from rnn_jax.model import SequenceModel
from rnn_jax.types import Batch, Readout
from rnn_jax.unroll import unroll

__version__ = "0.1.0"

_LAZY_NAMES = {"Gradient": "rnn_jax.training", "Optax": "rnn_jax.optimizer", "TrainConfig": "rnn_jax.training", "fit": "rnn_jax.runner",
               "model_for": "rnn_jax.training", "run": "rnn_jax.runner"}
"""The names a user types that live in modules heavier than the root: imported on first use."""
_SHELVES = ("io", "analysis", "training", "runtime")
_SHORT = {m.name: f"rnn_jax.{shelf}.{m.name}" for shelf in _SHELVES
          for m in pkgutil.iter_modules([f"{__path__[0]}/{shelf}"]) if not m.name.startswith("_")}
"""Attribute name -> module for the modules on the shelves: ``rnn_jax.results`` is
``rnn_jax.io.results`` (``from rnn_jax import plots, results``)."""
_LAZY = frozenset(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")) | set(_SHORT)


def __getattr__(name: str):
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    if name in _LAZY:
        return importlib.import_module(_SHORT.get(name, f"rnn_jax.{name}"))
    raise AttributeError(f"module 'rnn_jax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY | set(_LAZY_NAMES))


__all__ = [
    "Batch",
    "Cell",
    "Gradient",
    "Optax",
    "Readout",
    "SequenceModel",
    "TrainConfig",
    "cells",
    "fit",
    "from_keras",
    "from_torch",
    "initializers",
    "model_for",
    "run",
    "tasks",
    "to_keras",
    "to_torch",
    "unroll",
]

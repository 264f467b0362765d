"""Frozen configs <-> plain JSON-able dicts, so a run directory says how to rerun it.

``to_dict`` turns nested frozen dataclasses (``TrainConfig``, ``SequenceModel``, the
synthetic tasks) into dicts of plain values, tagging each with its class
(``"__class__": "rnn_jax.model.SequenceModel"``), and an optimizer into its optax names and
arguments (:meth:`~rnn_jax.optimizer.Optax.to_dict`). Objects that are not
dataclasses (an ``ArrayTask`` holding user arrays) are stored as their ``repr``, a Cell
object as its name, options and code digests, and an optax transformation built in code as a
marker; all are flagged: such a run cannot be rebuilt from its config alone.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from typing import Any

import numpy as np
import optax

from rnn_jax.cells import fingerprint
from rnn_jax.cells.base import Cell
from rnn_jax import optimizer

CLASS_KEY = "__class__"
OPAQUE_KEY = "__repr__"
CELL_KEY = "__cell__"


def to_dict(obj: Any) -> Any:
    """A JSON-able form of ``obj`` (dataclasses, enums, tuples, numbers, strings; a
    :class:`~rnn_jax.cells.Cell` object as :func:`~rnn_jax.cells.fingerprint.describe` gives it)."""
    if isinstance(obj, Cell):
        return {CELL_KEY: fingerprint.describe(obj)}
    if isinstance(obj, (optimizer.Optax, optax.GradientTransformation)):
        return optimizer.to_json(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = {CLASS_KEY: f"{type(obj).__module__}.{type(obj).__qualname__}"}
        for field in dataclasses.fields(obj):
            if field.init:
                data[field.name] = to_dict(getattr(obj, field.name))
        return data
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (np.generic, np.ndarray)) or hasattr(obj, "__array__"):
        value = np.asarray(obj)
        return value.tolist()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return {OPAQUE_KEY: repr(obj)}


def is_rebuildable(data: Any) -> bool:
    """False when the dict holds an object stored only as its ``repr`` or its fingerprint."""
    if isinstance(data, dict):
        opaque = (OPAQUE_KEY, CELL_KEY, optimizer.UNNAMED_KEY)
        return not any(k in data for k in opaque) and all(is_rebuildable(v) for v in data.values())
    if isinstance(data, list):
        return all(is_rebuildable(v) for v in data)
    return True


def _default_of(class_path: str, name: str) -> Any:
    """:func:`to_dict` of the default of field ``name`` of the dataclass ``class_path``, or a
    sentinel when there is none (unknown class or field, or no default)."""
    module, _, qualname = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError, ValueError):
        return _NO_DEFAULT
    field = {f.name: f for f in dataclasses.fields(cls)}.get(name) if dataclasses.is_dataclass(cls) else None
    if field is None or field.default is dataclasses.MISSING:
        return _NO_DEFAULT
    return to_dict(field.default)


_NO_DEFAULT = object()


def cell_name(model: dict) -> str:
    """The cell's name in a stored ``SequenceModel`` dict (a registered name or an object's)."""
    cell = model["cell"]
    return cell[CELL_KEY]["name"] if isinstance(cell, dict) else cell


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Human-readable differences between two :func:`to_dict` trees (``a.b: x != y``).

    A field that the stored (``old``) tree lacks and that ``new`` has at its default is not a
    difference: it was added to the code after the run was written (``SequenceModel.mode``),
    and a run written before it ran with the behaviour the default keeps.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            if key not in old and CLASS_KEY in new and new[key] == _default_of(new[CLASS_KEY], key):
                continue
            out += differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]


_GRADIENT_FIELDS = {"credit": "rule", "truncation": "truncation", "stateful": "stateful", "omega": "omega",
                    "flossing": "flossing"}
"""The ``TrainConfig`` fields that became ``TrainConfig.gradient``'s, by their new names."""


def upgrade(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored ``config.json`` in today's layout: a run written while the gradient's fields
    (``credit``, ``truncation``, ``stateful``, ``omega``, ``flossing``) sat in ``TrainConfig``
    has them moved into its ``gradient``, so it compares equal to (and resumes as) the same
    run spelt ``TrainConfig(gradient=Gradient(...))``."""
    train = stored.get("train_config")
    if not isinstance(train, dict) or not any(old in train for old in _GRADIENT_FIELDS):
        return stored
    train = dict(train)
    gradient = {CLASS_KEY: "rnn_jax.training.gradient.Gradient"}
    gradient.update({new: train.pop(old) for old, new in _GRADIENT_FIELDS.items() if old in train})
    return {**stored, "train_config": {**train, "gradient": gradient}}


def check_resumable(stored: dict[str, Any], path: str) -> None:
    """Refuses, in one line, to resume a run whose stored config cannot name its optimizer:
    one written before the optimizer was optax's own (``"optim"``), or one whose optimizer
    was a transformation built in code."""
    train = stored.get("train_config", {})
    if "optim" in train:
        raise ValueError(f"run_dir={path} was written before the optimizer became optax's (its config.json has "
                         "'optim'); results.load still reads it, but it cannot resume: start a new run directory")
    if optimizer.UNNAMED_KEY in (train.get("optimizer") or {}):
        raise ValueError(f"run_dir={path} was trained with a GradientTransformation built in code, which config.json "
                         "cannot name, so it cannot resume; spell the optimizer as Optax(...) (or register its "
                         "factory with rnn_jax.optimizer.register) for a run that resumes")

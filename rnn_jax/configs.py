"""Frozen configs <-> plain JSON-able dicts, so a run directory says how to rerun it.

``to_dict`` turns nested frozen dataclasses (``TrainConfig``, ``SequenceModel``,
``OptimConfig``, the synthetic tasks) into dicts of plain values, tagging each with its class
(``"__class__": "rnn_jax.model.SequenceModel"``). Objects that are not dataclasses (an
``ArrayTask`` holding user arrays) are stored as their ``repr`` and flagged: such a run
cannot be rebuilt from its config alone.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import numpy as np

CLASS_KEY = "__class__"
OPAQUE_KEY = "__repr__"


def to_dict(obj: Any) -> Any:
    """A JSON-able form of ``obj`` (dataclasses, enums, tuples, numbers, strings)."""
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
    """False when the dict holds an object stored only as its ``repr``."""
    if isinstance(data, dict):
        return OPAQUE_KEY not in data and all(is_rebuildable(v) for v in data.values())
    if isinstance(data, list):
        return all(is_rebuildable(v) for v in data)
    return True


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Human-readable differences between two :func:`to_dict` trees (``a.b: x != y``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]

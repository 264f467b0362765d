"""What a :class:`~rnn_jax.cells.Cell` object is, as plain values, so a run directory can
tell whether the cell given on resume is the one it was trained with.

A registered cell is stored by its name. A cell passed as an object (``cells.from_flax(MyCell)``,
or a ``Cell`` written by hand) has no name to look up, so its config stores its name, its
options and one digest per function: of the function's bytecode and constants, its defaults,
the values it closes over, and the functions and classes of its own module that it calls. A
class (a Flax cell class) counts by its methods the same way. Two cells built by the same
code with the same options and captured values give the same digests in any process; editing
the step of ``MyCell`` changes the digest of ``step``, and resume lists it as a difference.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import types
from typing import Any

import numpy as np

_FIELDS = ("init", "initial_carry", "project_inputs", "step", "hidden", "split", "linear_recurrence", "hooks")


def describe(cell) -> dict[str, Any]:
    """``{"name", "options", "code": {field: digest}}`` of a Cell (see the module docstring)."""
    code = {}
    for field in _FIELDS:
        value = getattr(cell, field)
        if value is not None:
            code[field] = _digest(value)
    return {"name": cell.name, "options": [list(kv) for kv in cell.options], "code": code}


def _digest(value: Any) -> str:
    h = hashlib.sha256()
    _feed(h, value, set())
    return h.hexdigest()[:16]


def _feed(h, value: Any, seen: set[int]) -> None:
    """Feeds a stable description of ``value`` to ``h``; objects already fed count by a marker,
    so recursion through closures and globals ends."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
        return
    if id(value) in seen:
        h.update(b"<seen>;")
        return
    seen.add(id(value))
    if isinstance(value, (types.FunctionType, types.MethodType)):
        _feed_function(h, getattr(value, "__func__", value), seen)
    elif isinstance(value, type):
        h.update(f"class {value.__module__}.{value.__qualname__};".encode())
        if _is_library(value.__module__):
            return
        for base in value.__mro__[1:]:  # what it inherits from the user's classes counts too
            if not _is_library(base.__module__):
                _feed(h, base, seen)
        for name, member in sorted(vars(value).items()):
            if isinstance(member, (types.FunctionType, staticmethod, classmethod, property)) or isinstance(member, type):
                h.update(f"{name}=".encode())
                _feed(h, getattr(member, "__func__", getattr(member, "fget", member)), seen)
    elif isinstance(value, types.ModuleType):
        h.update(f"module {value.__name__};".encode())
    elif isinstance(value, types.CodeType):
        _feed_code(h, value, seen)
    elif isinstance(value, (tuple, list)):
        h.update(f"{type(value).__name__}[".encode())
        for item in value:
            _feed(h, item, seen)
        h.update(b"];")
    elif isinstance(value, dict):
        h.update(b"dict{")
        for key in sorted(value, key=repr):
            _feed(h, key, seen)
            _feed(h, value[key], seen)
        h.update(b"};")
    elif isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
        array = np.asarray(value)
        h.update(f"array {array.dtype} {array.shape};".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    elif isinstance(value, enum.Enum):
        h.update(f"enum {type(value).__qualname__}.{value.name};".encode())
    elif isinstance(value, functools.partial):
        h.update(b"partial;")
        _feed(h, (value.func, value.args, value.keywords), seen)
    elif _is_library(type(value).__module__):  # jnp.tanh, a library object: by its name
        name = getattr(value, "__qualname__", getattr(value, "__name__", ""))
        h.update(f"object {type(value).__module__}.{type(value).__qualname__} {name};".encode())
    else:  # an object of the user's: its class and its attributes
        h.update(f"object {type(value).__module__}.{type(value).__qualname__};".encode())
        _feed(h, type(value), seen)
        _feed(h, getattr(value, "__dict__", {}), seen)


def _is_library(module: str | None) -> bool:
    """Modules outside the user's code (jax, flax, numpy, rnn_jax's own helpers count by name:
    their versions are in the run directory's environment record)."""
    root = (module or "").split(".")[0]
    return root in {"jax", "jaxlib", "flax", "numpy", "optax", "builtins", "functools", "math", "typing"}


def _feed_function(h, fn: types.FunctionType, seen: set[int]) -> None:
    h.update(f"function {fn.__qualname__};".encode())
    if _is_library(fn.__module__):
        return
    _feed_code(h, fn.__code__, seen)
    _feed(h, fn.__defaults__, seen)
    _feed(h, fn.__kwdefaults__, seen)
    for cell in fn.__closure__ or ():
        try:
            _feed(h, cell.cell_contents, seen)
        except ValueError:  # an empty cell (a name assigned after the function was made)
            h.update(b"<empty>;")
    for name in _global_names(fn.__code__):  # helpers of the same module, which the function calls
        target = fn.__globals__.get(name)
        if isinstance(target, (types.FunctionType, type)) and getattr(target, "__module__", None) == fn.__module__:
            h.update(f"global {name}=".encode())
            _feed(h, target, seen)


def _feed_code(h, code: types.CodeType, seen: set[int]) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for const in code.co_consts:
        _feed(h, const, seen)


def _global_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return sorted(set(names))

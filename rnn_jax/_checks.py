"""Argument checks shared by every public entry point.

Each helper raises a one-line ``ValueError`` / ``TypeError`` that names the argument, the
value it got and what was expected, so that bad input never reaches tracing or XLA.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

E = TypeVar("E", bound=enum.Enum)


def is_concrete(x: Any) -> bool:
    """True when ``x`` has a value we can inspect (not an abstract tracer inside ``jit``)."""
    return not isinstance(x, jax.core.Tracer)


def choice(enum_cls: type[E], value: Any, name: str) -> E:
    """Converts ``value`` (an enum member or its string value) to ``enum_cls``."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        options = ", ".join(repr(m.value) for m in enum_cls)
        raise ValueError(f"{name}={value!r} is not one of {options}") from None


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1; bools and floats are refused."""
    return _int_from(value, name, 1, "a positive int")


def nonneg_int(value: Any, name: str) -> int:
    """``value`` as an int >= 0."""
    return _int_from(value, name, 0, "an int >= 0")


def _int_from(value: Any, name: str, low: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be {what}, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name}={value!r} must be {what} (>= {low})")
    return int(value)


def sizes(input_size: Any, hidden_size: Any, *, complex_state: str = "") -> tuple[int, int]:
    """A cell's ``input_size`` and ``hidden_size`` as positive ints; with ``complex_state``
    (the cell's name and what its complex numbers are), ``hidden_size`` must be even, since
    the state is ``h/2`` complex numbers carried as ``[Re | Im]``."""
    input_size, hidden_size = positive_int(input_size, "input_size"), positive_int(hidden_size, "hidden_size")
    if complex_state and hidden_size % 2:
        raise ValueError(f"hidden_size={hidden_size} must be even for the {complex_state}")
    return input_size, hidden_size


def number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """Checks a real scalar (Python number or concrete array) lies in the stated range.

    Abstract tracers pass through unchecked (their value is unknown before run time).
    """
    if not is_concrete(value):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be a real number, got bool")
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name}={value!r} must be a real number")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}={value!r} must be finite")
    lo_txt = "(" if low_open else "["
    hi_txt = ")" if high_open else "]"
    expected = f"in {lo_txt}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_txt}"
    if low is not None and (np.any(arr <= low) if low_open else np.any(arr < low)):
        raise ValueError(f"{name}={value!r} must be {expected}")
    if high is not None and (np.any(arr >= high) if high_open else np.any(arr > high)):
        raise ValueError(f"{name}={value!r} must be {expected}")
    return value


def positive(value: Any, name: str) -> Any:
    """A real scalar > 0 (learning rates, clip thresholds, scales)."""
    return number(value, name, low=0.0, low_open=True)


def float_array(x: Any, name: str, *, ndim_min: int | None = None, ndim: int | None = None):
    """Checks that ``x`` is a floating-point array of the expected rank; returns it."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{name} must be a floating-point array, got dtype {x.dtype}; "
            f"cast it first, e.g. {name}.astype(jnp.float32)"
        )
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {tuple(x.shape)}")
    if ndim_min is not None and x.ndim < ndim_min:
        raise ValueError(f"{name} must have rank >= {ndim_min}, got shape {tuple(x.shape)}")
    return x


def lengths_array(lengths: Any, batch_shape: tuple[int, ...], seq_len: int, name: str = "lengths"):
    """Checks sequence lengths: integer dtype, shape ``batch_shape``, values in [1, seq_len]."""
    if not hasattr(lengths, "shape"):
        lengths = np.asarray(lengths)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {lengths.dtype}")
    if tuple(lengths.shape) != tuple(batch_shape):
        raise ValueError(
            f"{name} must have shape {tuple(batch_shape)} (the batch shape), got {tuple(lengths.shape)}"
        )
    if is_concrete(lengths) and lengths.size:
        # np.asarray first: inside a jit trace, np.min(jax_array) would call the array's own
        # .min(), which is staged into a tracer even for a concrete (closed-over) array.
        values = np.asarray(lengths)
        lo, hi = int(values.min()), int(values.max())
        if lo < 1 or hi > seq_len:
            raise ValueError(f"{name} must lie in [1, {seq_len}] (the sequence length), got min {lo}, max {hi}")
    return lengths


def unknown_options(options: Iterable[str], allowed: Iterable[str], where: str) -> None:
    """Refuses keyword options that ``where`` does not understand."""
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise TypeError(f"{where} got unknown option(s) {', '.join(bad)}; allowed: {', '.join(sorted(allowed))}")


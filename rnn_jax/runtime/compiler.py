"""How a run's programs are compiled: named, and the run-once ones for a fast compile.

Compiling is most of what a short run waits for. A program that runs once per run (the
initialisation, the sampling of a task's held-out set) is compiled on CPU with
:data:`RUN_ONCE_OPTIONS`: XLA's elemental emitters instead of its MLIR fusion emitters, and
no backend optimisation. Its values are bit-identical (it draws random numbers and fills
arrays; a test checks this), and it compiles about 3x faster (an LSTM's initialisation:
0.68 s -> 0.23 s). The programs that run at every step keep XLA's defaults: with the
elemental emitters a training chunk compiled 30-45% faster but ran 5-25% slower, and an
evaluation ran 2-3x slower (``benchmarks/README.md``, "Where users wait: compile less"). The options are part of
a program's identity, the same for every run, so a result does not depend on who compiled
it (``fit`` or the runner, alone or among many seeds). Other platforms compile with XLA's
defaults, and so does a jaxlib that no longer knows an option, after one warning.

Each program's ``jax.jit`` carries the program's name (``init``, ``chunk``, ``evaluate``,
``diagnose``, ``held_out``), so JAX's compile log (``jax.config.update("jax_log_compiles",
True)``) and its monitoring events (``fun_name``) say which program was compiled
(``benchmarks.interactive`` and ``benchmarks.main_job`` print the time of each).

:func:`compile` compiles a program ahead of its calls through the executable cache
(:mod:`.executables`), so that a later process loads it without tracing it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax

from rnn_jax.runtime import executables
from rnn_jax.types import CPU

RUN_ONCE_OPTIONS: Mapping[str, Any] = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0}
"""The XLA options of a program that runs once per run, compiled for a CPU."""


@functools.cache
def options(platform: str, runs_once: bool = False) -> dict[str, Any]:
    """The XLA options for programs compiled for ``platform`` (``"cpu"``, ``"gpu"``...):
    :data:`RUN_ONCE_OPTIONS` for a program that ``runs_once`` on CPU, when this jaxlib
    accepts them; else none (XLA's defaults)."""
    if platform != CPU or not runs_once:
        return {}
    wanted = dict(RUN_ONCE_OPTIONS)
    try:
        jax.jit(lambda x: x + 1, compiler_options=wanted).lower(1.0).compile()
    except jax.errors.JaxRuntimeError as error:
        warnings.warn(f"this jaxlib refuses the XLA options {wanted} ({error}); programs compile with XLA's "
                      "defaults", RuntimeWarning, stacklevel=2)
        return {}
    return wanted


@functools.cache
def named_jit(fn: Callable, name: str, platform: str, runs_once: bool = False, **jit_kwargs) -> Callable:
    """``jax.jit(fn, **jit_kwargs)`` under the name ``name``, with :func:`options` for
    ``platform`` and ``runs_once``; one per (function, name, platform, runs_once), so JAX's
    cache is shared by its calls."""

    @functools.wraps(fn)
    def program(*args, **kwargs):
        return fn(*args, **kwargs)

    program.__name__ = program.__qualname__ = name
    return jax.jit(program, compiler_options=options(platform, runs_once) or None, **jit_kwargs)


def compile(fn: Callable, name: str, platform: str, runs_once: bool, args: tuple, kwargs: Mapping[str, Any] | None = None,
            **jit_kwargs):
    """:func:`named_jit` of ``fn`` lowered and compiled for ``args`` / ``kwargs``, or the
    executable :mod:`.executables` holds for them (its key names everything that made it)."""
    jitted = named_jit(fn, name, platform, runs_once, **jit_kwargs)
    parts = (name, platform, options(platform, runs_once), jit_kwargs)
    return executables.load_or_compile(fn, jitted, args, kwargs or {}, name=name, parts=parts)

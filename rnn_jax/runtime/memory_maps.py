"""The process's memory mappings: compiled programs use them up, and running out is a crash.

XLA:CPU places each compiled program's machine code in memory mappings of its own, several
per program, and keeps them while JAX's caches hold the program. Linux caps the mappings of
a process (``/proc/sys/vm/max_map_count``, 65,530 by default). A process that compiles
enough programs, such as a long notebook session, an experiment that runs many
configurations, or ``experiments.reproduce`` with every claim, reaches the cap. Then
LLVM's allocation fails ("LLVM compilation error: Cannot allocate memory") and jaxlib
0.10.2 segfaults inside ``backend_compile_and_load``. One quick preset of
``experiments.credit_assignment`` alone adds about 5,700 mappings.

:func:`relieve` is called before each run compiles (:func:`rnn_jax.runner.run`,
:func:`rnn_jax.fit`). When the process holds more than ``fraction`` of the cap,
it empties JAX's caches (``jax.clear_caches()``) and says so in a ``RuntimeWarning``. The
programs of finished runs are freed, and a later call of a jitted function compiles again
(from the persistent compilation cache when it is on). Where there is no ``/proc`` (not
Linux), the check does nothing.
"""

from __future__ import annotations

import warnings

import jax

CAP_FILE = "/proc/sys/vm/max_map_count"
MAPS_FILE = "/proc/self/maps"
FRACTION = 0.5
"""Above this fraction of the cap, :func:`relieve` empties JAX's caches."""


def count() -> int | None:
    """How many memory mappings this process holds, or ``None`` when it cannot be read."""
    try:
        with open(MAPS_FILE, "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def cap() -> int | None:
    """The most mappings a process may hold (``vm.max_map_count``), or ``None``."""
    try:
        with open(CAP_FILE) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def relieve(fraction: float = FRACTION) -> bool:
    """Empties JAX's caches when this process holds more than ``fraction`` of the mapping
    cap; returns whether it did. Cheap (one read of ``/proc/self/maps``); call it between
    runs, never inside a jitted function."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction={fraction!r} must be in (0, 1]")
    held, most = count(), cap()
    if held is None or most is None or held <= fraction * most:
        return False
    jax.clear_caches()
    warnings.warn(f"this process held {held} memory mappings, over {fraction:.0%} of the cap of {most} "
                  f"(vm.max_map_count); compiled programs use them, and XLA:CPU crashes at the cap, so JAX's "
                  f"caches were emptied (now {count()} mappings): later calls compile again (rnn_jax.runtime.memory_maps)",
                  RuntimeWarning, stacklevel=2)
    return True

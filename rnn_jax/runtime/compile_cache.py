"""JAX's persistent compilation cache, on by default for the runner and the experiments.

Most of a small run is compilation; with the cache, a program compiled once on this machine
is loaded from disk by every later process (jax's ``jax_compilation_cache_dir``). The
directory is ``$RNN_JAX_COMPILE_CACHE`` if set, else ``$XDG_CACHE_HOME/rnn_jax/jax`` (default
``~/.cache/rnn_jax/jax``): per user, because a cache directory that others can write lets
them run code in your process (JAX's documentation says so). ``RNN_JAX_COMPILE_CACHE=off``
(or the experiments' ``--no-compile-cache``) turns it off. A cache directory that the user
has already given JAX (``jax.config.update("jax_compilation_cache_dir", ...)``) is kept.

Every program is cached, however fast it compiled (JAX's default skips those under 1 s,
which are most of a small run's), and the directory is capped at :data:`MAX_BYTES`, least
recently used entries evicted first.
"""

from __future__ import annotations

import os

ENV = "RNN_JAX_COMPILE_CACHE"
OFF = frozenset({"", "0", "off", "false", "no"})
MAX_BYTES = 2 * 2**30
_decided = False


def default_directory() -> str | None:
    """The cache directory from the environment (see the module docstring); ``None`` when off."""
    if ENV in os.environ:
        value = os.environ[ENV].strip()
        return None if value.lower() in OFF else os.path.abspath(os.path.expanduser(value))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rnn_jax", "jax")


def enable(directory: str | None = None) -> str | None:
    """Points JAX's persistent compilation cache at ``directory`` (default:
    :func:`default_directory`), unless JAX already has one. Returns the directory in use, or
    ``None`` when the cache is off. Safe to call many times; the first call decides."""
    global _decided
    import jax

    current = jax.config.jax_compilation_cache_dir
    if _decided or current:
        return current
    _decided = True
    directory = default_directory() if directory is None else directory
    if directory is None:
        return None
    os.makedirs(directory, mode=0o700, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return directory


def disable() -> None:
    """Keeps the cache off for this process (unless JAX was given a directory already)."""
    global _decided
    _decided = True

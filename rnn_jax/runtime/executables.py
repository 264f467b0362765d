"""Compiled programs kept on disk, so that a warm start neither traces nor lowers them.

JAX's persistent compilation cache (:mod:`.compile_cache`) saves XLA's compile, but a new
process still traces each program to a jaxpr and lowers it to StableHLO before it can
compute that cache's key: about 0.25-0.4 s per training program on 2 cores. This cache
keys a compiled executable on what determines it, without tracing, and loads it with
``jax.experimental.serialize_executable``:

* the program: the function's ``module:qualname``, its name, platform, XLA options and
  ``jit`` arguments, and its static arguments by value (frozen configs described field by
  field, by the names of their classes and functions, never by ``repr``);
* the dynamic arguments' tree, shapes, dtypes, weak types and shardings;
* the environment: a digest of this package's source, the jax and jaxlib versions,
  ``XLA_FLAGS``, the JAX settings that change lowering (:data:`LOWERING_SETTINGS`, read in
  the caller's context), every device, and the host CPU's model and features.

A stale entry would not fail, it would run old code, so a program whose key cannot be
complete is never stored: one whose static arguments hold a class or function from outside
``rnn_jax``, ``optax`` and ``jax`` (a cell or task registered in a notebook, whose code this
digest does not see), an optax chain built in code, an opaque object, or a host callback
(which cannot be serialised). Such a program compiles as before, through JAX's caches.

Loading an executable runs its code, as unpickling does. So the directory is private: it
is created ``0700``, and an entry that another user owns, that others could have written
(group- or world-writable, it or its directory) or that fails its integrity check (a
SHA-256 digest of its contents) is refused with one line, and the program is compiled
again. Any error while loading falls back to compiling (jax-ml/jax#38445 reports loads
that fail on some CPUs). Before the first load, XLA:CPU's LAPACK kernels are set up as a
lowering would have set them up (``_kernels_ready``).

The directory is ``executables/`` under the compile cache's (``RNN_JAX_COMPILE_CACHE``);
``RNN_JAX_EXECUTABLE_CACHE=off`` turns this cache off alone, and it is off whenever the
compile cache is. At most :data:`MAX_BYTES` are kept, the least recently used first out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import json
import os
import pickle
import platform as host
import stat
import tempfile
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

ENV = "RNN_JAX_EXECUTABLE_CACHE"
MAX_BYTES = 2**30
MAGIC = b"rnn_jax executable 1\n"
TRUSTED_MODULES = ("rnn_jax", "optax", "jax", "jaxlib", "numpy", "builtins")
"""Where a class or function named in a key may come from: code whose version the key holds."""
LOWERING_SETTINGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_rank_promotion",
                     "jax_numpy_dtype_promotion", "jax_default_prng_impl", "jax_threefry_partitionable",
                     "jax_debug_nans", "jax_debug_infs", "jax_enable_checks", "jax_use_shardy_partitioner",
                     "jax_softmax_custom_jvp", "jax_pallas_use_mosaic_gpu")
"""JAX settings that change what a program lowers to: part of every key, read where it compiles."""


class Unkeyable(Exception):
    """A value that a key cannot name completely (the program is compiled, not stored)."""


def directory() -> str | None:
    """Where executables are kept: ``executables/`` under JAX's compilation cache directory,
    or ``None`` when either cache is off."""
    if os.environ.get(ENV, "").strip().lower() in {"0", "off", "false", "no"}:
        return None
    base = jax.config.jax_compilation_cache_dir
    return os.path.join(base, "executables") if base else None


def load_or_compile(fn: Callable, jitted, args: tuple, kwargs: Mapping[str, Any], *, name: str, parts: Any = ()):
    """``jitted.lower(*args, **kwargs).compile()``, or the executable this cache holds for it.

    Args:
        fn: the function ``jitted`` compiles (its ``module:qualname`` is part of the key).
        jitted: ``jax.jit(fn, ...)``, with ``static_argnums`` / ``static_argnames`` as given
            in ``parts``.
        args: the positional arguments ``lower`` gets.
        kwargs: the keyword arguments ``lower`` gets.
        name: the program's name, for the messages.
        parts: everything else that made ``jitted`` (its name, platform, XLA options, ``jit``
            arguments), described as the static arguments are.
    """
    path = _entry(fn, args, kwargs, parts)
    compiled = None if path is None else _load(path, name)
    if compiled is not None:
        return compiled
    lowered = jitted.lower(*args, **kwargs)
    if path is None:
        return lowered.compile()
    with _fresh() as fresh:
        compiled = lowered.compile()
    if fresh:
        _store(path, compiled)
    return compiled


def _entry(fn: Callable, args: tuple, kwargs: Mapping[str, Any], parts: Any) -> str | None:
    """The file of the program's executable, or ``None`` when the cache is off or the key
    cannot name the program completely."""
    where = directory()
    if where is None:
        return None
    try:
        return os.path.join(where, program_key(fn, args, kwargs, parts))
    except Unkeyable:
        return None


@contextlib.contextmanager
def _fresh():
    """Compiles past JAX's persistent cache: XLA:CPU serialises an executable that it loaded
    from that cache without its kernels (a later load of it fails with "Function ... not
    found"), so only a program compiled here is stored. Yields ``False`` when this jax has no
    such switch (then nothing is stored). Other threads compiling meanwhile bypass it too."""
    try:
        from jax._src import compilation_cache as jax_cache

        lock, _ = jax_cache._cache_initialized_mutex, jax_cache._cache_used  # noqa: SLF001
    except (ImportError, AttributeError):
        yield False
        return
    with lock:
        saved = jax_cache._cache_checked, jax_cache._cache_used  # noqa: SLF001
        jax_cache._cache_checked, jax_cache._cache_used = True, False  # noqa: SLF001
    try:
        yield True
    finally:
        with lock:
            jax_cache._cache_checked, jax_cache._cache_used = saved  # noqa: SLF001


def program_key(fn: Callable, args: tuple, kwargs: Mapping[str, Any], parts: Any) -> str:
    """The key of ``fn`` compiled for ``args`` / ``kwargs`` with ``parts`` (see the module
    docstring); raises :class:`Unkeyable` when one of them cannot be named completely."""
    jit_kwargs = dict(parts[-1]) if parts and isinstance(parts[-1], Mapping) else {}
    static_nums = set(_as_tuple(jit_kwargs.get("static_argnums", ())))
    static_names = set(_as_tuple(jit_kwargs.get("static_argnames", ())))
    arguments = [describe(a) if i in static_nums else _avals(a) for i, a in enumerate(args)]
    keywords = {k: describe(v) if k in static_names else _avals(v) for k, v in sorted(kwargs.items())}
    record = {"fn": _name(fn), "parts": describe(parts), "args": arguments, "kwargs": keywords,
              "settings": {s: describe(getattr(jax.config, s, None)) for s in LOWERING_SETTINGS},
              "environment": environment()}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def describe(value: Any) -> Any:
    """A JSON-able description of a static value, by the names of its classes and functions."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # exact, and tells 1.0 from 1
    if isinstance(value, enum.Enum):
        return {"enum": _name(type(value)), "value": describe(value.value)}
    if isinstance(value, (tuple, list)):
        return {"seq": type(value).__name__, "items": [describe(v) for v in value]}
    if isinstance(value, Mapping):
        return {"map": sorted([describe(k), describe(v)] for k, v in value.items())}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        return {"array": str(array.dtype), "shape": array.shape, "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    if isinstance(value, jax.sharding.Sharding):
        return _sharding(value)
    if isinstance(value, (type, functools.partial)) or callable(value) and not _is_data(value):
        return _callable(value)
    if _is_data(value):
        if dataclasses.is_dataclass(value):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        else:
            fields = {k: v for k, v in vars(value).items() if not isinstance(v, functools.cached_property)}
        described = {"class": _name(type(value)), "fields": {k: describe(v) for k, v in sorted(fields.items())}}
        factory = getattr(value, "factory", None)
        if type(value).__name__ == "Optax" and isinstance(factory, str):  # a name: the code it resolves to
            from rnn_jax import optimizer

            described["resolves"] = _callable(optimizer.resolve(factory))
        return described
    raise Unkeyable(f"{type(value).__name__} cannot be named in a key")


def _is_data(value: Any) -> bool:
    """A dataclass instance, or an instance of a trusted class whose state is its ``__dict__``."""
    if isinstance(value, type):
        return False
    if dataclasses.is_dataclass(value):
        return True
    return type(value).__module__.split(".")[0] == "rnn_jax" and hasattr(value, "__dict__") and not callable(value)


def _callable(value: Any) -> Any:
    if isinstance(value, functools.partial):
        return {"partial": _callable(value.func), "args": describe(value.args), "kwargs": describe(value.keywords)}
    if getattr(value, "__closure__", None):  # a closure's captured values are not in its name
        raise Unkeyable(f"{_name(value)} is a closure")
    return {"callable": _name(value)}


def _name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    qualname = getattr(obj, "__qualname__", None) or ""
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise Unkeyable(f"{obj!r} has no stable name")
    if module.split(".")[0] not in TRUSTED_MODULES:
        raise Unkeyable(f"{module}:{qualname} is not code this key covers")
    return f"{module}:{qualname}"


def _sharding(sharding: jax.sharding.Sharding) -> Any:
    if isinstance(sharding, jax.sharding.NamedSharding):
        mesh = sharding.mesh
        return {"named": [d.id for d in mesh.devices.flat], "shape": list(mesh.devices.shape),
                "axes": [str(a) for a in mesh.axis_names], "spec": str(sharding.spec),
                "memory": str(sharding.memory_kind)}
    if isinstance(sharding, jax.sharding.SingleDeviceSharding):
        return {"single": next(iter(sharding.device_set)).id, "memory": str(sharding.memory_kind)}
    raise Unkeyable(f"{type(sharding).__name__} is not a sharding this key describes")


def _avals(tree: Any) -> Any:
    """The tree's structure and each leaf's shape, dtype, weak type and sharding."""
    leaves, treedef = jax.tree.flatten(tree)
    described = []
    for leaf in leaves:
        if isinstance(leaf, jax.core.Tracer):
            raise Unkeyable("a traced argument")
        aval = jax.typeof(leaf)
        sharding = getattr(leaf, "sharding", None)
        described.append([list(aval.shape), str(aval.dtype), bool(getattr(aval, "weak_type", False)),
                          None if sharding is None or not isinstance(leaf, jax.Array) else _sharding(sharding)])
    return {"tree": str(treedef), "leaves": described}


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


@functools.cache
def environment() -> dict[str, Any]:
    """What every key holds of this process: the package's source digest, versions, flags,
    devices and the host CPU."""
    import jaxlib

    return {"source": _source_digest(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "processes": jax.process_count(),
            "devices": [[d.id, d.platform, d.device_kind, d.process_index] for d in jax.devices()],
            "cpu": cpu()}


def _source_digest() -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for file in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, file)
            digest.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(handle.read() + b"\0")
    return digest.hexdigest()


@functools.cache
def cpu() -> str:
    """The host CPU's model and feature flags (``/proc/cpuinfo``), else what Python knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return f"{host.machine()} {host.processor()}"
    wanted = ("model name", "flags", "Features", "CPU part")
    return "\n".join(sorted({line.strip() for line in lines if line.split(":")[0].strip() in wanted}))


_refused: set[str] = set()


def _refuse(path: str, why: str) -> None:
    if path not in _refused:
        _refused.add(path)
        warnings.warn(f"executable cache: {path} refused ({why}); compiling the program instead",
                      RuntimeWarning, stacklevel=3)


def _private(path: str) -> str | None:
    """Why ``path`` is not trusted (another owner, or writable by group or others), or ``None``."""
    info = os.stat(path)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"owned by uid {info.st_uid}, not this user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _load(path: str, name: str):
    if not os.path.exists(path):
        return None
    for checked in (os.path.dirname(path), path):
        why = _private(checked)
        if why is not None:
            _refuse(path, f"{checked} is {why}")
            return None
    with open(path, "rb") as handle:
        data = handle.read()
    digest, _, body = data[len(MAGIC):].partition(b"\n")
    if not data.startswith(MAGIC) or hashlib.sha256(body).hexdigest().encode() != digest:
        _refuse(path, "it fails its integrity check")
        return None
    if not _kernels_ready():
        return None
    try:
        from jax.experimental import serialize_executable

        payload, in_tree, out_tree, device_ids = pickle.loads(body)
        devices = {d.id: d for d in jax.devices()}
        compiled = serialize_executable.deserialize_and_load(
            payload, in_tree, out_tree, backend=devices[device_ids[0]].platform,
            execution_devices=[devices[i] for i in device_ids])
    except Exception as error:  # a load that fails on this CPU (jax-ml/jax#38445) compiles instead
        _refuse(path, f"loading {name!r} failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
        return None
    os.utime(path)  # recently used
    return compiled


@functools.cache
def _kernels_ready() -> bool:
    """Sets up what lowering would have and loading skips: the pointers of XLA:CPU's LAPACK
    kernels, which jaxlib fills on the first lowering of a linear-algebra op (without them a
    loaded eigh or QR crashes the process; ``jax.export`` does the same on deserialising).
    ``False`` when this jax has no such hook: then nothing is loaded."""
    try:
        from jax._src.lax import linalg

        linalg.initialize_lapack()
    except Exception:  # noqa: BLE001 -- a jax without the hook: compile as before
        return False
    return True


def _store(path: str, compiled) -> None:
    from jax.experimental import serialize_executable

    try:
        payload, in_tree, out_tree = serialize_executable.serialize(compiled)
        device_ids = [d.id for d in compiled.runtime_executable().local_devices()]
        body = pickle.dumps((payload, in_tree, out_tree, device_ids))
    except Exception:  # noqa: BLE001 -- host callbacks, constants: such a program is not stored
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if _private(folder) is not None:
        return
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(handle, "wb") as out:
        out.write(MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    os.replace(temporary, path)
    _evict(folder)


def _evict(folder: str) -> None:
    """Keeps the folder under :data:`MAX_BYTES`, dropping the least recently used entries."""
    entries = [e for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")]
    total = sum(e.stat().st_size for e in entries)
    for entry in sorted(entries, key=lambda e: e.stat().st_mtime):
        if total <= MAX_BYTES:
            break
        total -= entry.stat().st_size
        os.remove(entry.path)

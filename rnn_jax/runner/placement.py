"""Where members run: devices, processes and compiled calls.

The member axis is padded to a multiple of the devices and sharded over a
``jax.sharding.Mesh`` of them; with several processes each holds its own shards and results
are gathered on the host. On one CPU device the members may instead run as groups, one
compiled call per group and one call per core at a time (:class:`MemberPrograms`). Which is
used is a :class:`Placement`, resolved once by :func:`resolve_placement`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rnn_jax import _checks
from rnn_jax.runtime import compiler, concurrency
from rnn_jax.types import CPU

MEMBER_AXIS = "members"


class Placement(enum.StrEnum):
    """How members are spread over compiled calls (``run(..., members_per_call=...)``; an int
    ``k`` means groups of ``k`` members per call on one device)."""

    AUTO = "auto"  # the measured rule, choose_members_per_call
    VMAP = "vmap"  # one jit(vmap) over every member, sharded over the devices


def choose_members_per_call(widest_layer: int, devices: Sequence[jax.Device]) -> int | None:
    """The runner's measured rule for spreading members (``Placement.AUTO``): a group size,
    or ``None`` for one ``vmap`` over every member.

    - several devices, or one GPU or TPU: ``vmap``, the members sharded over the devices.
    - one CPU device: groups of ``k`` members (4 up to 16 units, 2 up to 32, then 1), one
      compiled call per group and one call running per core at a time (:class:`MemberPrograms`).
      XLA:CPU runs a batched matmul no faster per member than a single one, so groups keep
      the cores busier than one ``vmap``; the measurements (``benchmarks.strategies``) are in
      ``benchmarks/README.md``.

    Results depend on the choice only through float32 rounding (batched and single
    matmuls may sum in another order), never on the number of cores; a test checks this.
    """
    if len(devices) > 1 or devices[0].platform != CPU:
        return None
    if widest_layer <= 16:
        return 4
    return 2 if widest_layer <= 32 else 1


def resolve_placement(value: Placement | str | int, widest_layer: int, devices: Sequence[jax.Device]) -> int | None:
    """``run``'s ``members_per_call`` checked and resolved: a group size, or ``None`` (vmap)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        size = _checks.positive_int(value, "members_per_call")
        if len(devices) > 1:
            raise ValueError(f"members_per_call={size} runs groups of members on one device; with the "
                             f"{len(devices)} devices use 'vmap' (sharded) or 'auto'")
        return size
    if not isinstance(value, (str, Placement)):
        raise TypeError(f"members_per_call={value!r} must be 'auto', 'vmap' or a positive int")
    match _checks.choice(Placement, value, "members_per_call"):
        case Placement.AUTO:
            return choose_members_per_call(widest_layer, devices)
        case Placement.VMAP:
            return None
        case other:
            raise ValueError(f"members_per_call={other!r} is not handled")


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Mesh1D:
    """The member axis over ``devices``: ``count`` members padded to ``padded``, a multiple
    of the devices (padding members repeat member 0; their results are dropped)."""

    devices: tuple[jax.Device, ...]
    count: int

    @property
    def padded(self) -> int:
        return -(-self.count // len(self.devices)) * len(self.devices)

    @functools.cached_property
    def sharding(self) -> NamedSharding:
        return NamedSharding(Mesh(np.asarray(self.devices), (MEMBER_AXIS,)), PartitionSpec(MEMBER_AXIS))

    def place(self, tree):
        """Host arrays ``[count, ...]`` -> padded arrays sharded on the member axis. Every process
        holds the same host values and places its own shards (multi-process safe)."""
        def one(v):
            v = np.concatenate([v, np.repeat(v[:1], self.padded - self.count)])
            return jax.make_array_from_callback(v.shape, self.sharding, lambda i: v[i])

        return jax.tree.map(one, tree)

    def replicate(self, tree):
        """Host arrays -> the same arrays on every device of the mesh (what a program's
        ``shared`` inputs are); multi-process safe as :meth:`place`."""
        sharding = NamedSharding(self.sharding.mesh, PartitionSpec())

        def one(v):
            v = np.asarray(v)
            return jax.make_array_from_callback(v.shape, sharding, lambda i: v[i])

        return jax.tree.map(one, tree)

    def host(self, tree):
        """Device arrays -> numpy with the padding dropped; with several processes, gathers
        the member axis from all. PRNG key arrays come back as (gathered) key arrays."""

        def one(x):
            if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
            if isinstance(x, jax.Array) and not x.is_fully_addressable:
                from jax.experimental import multihost_utils

                return np.asarray(multihost_utils.process_allgather(x, tiled=True))[: self.count]
            return np.asarray(x)[: self.count]

        return jax.tree.map(one, tree)


def make_mesh(devices: Sequence[jax.Device] | None, count: int) -> Mesh1D:
    """A :class:`Mesh1D` over ``devices`` (default: every device of every process), never
    more devices than members."""
    return Mesh1D(tuple(list(devices or jax.devices())[:count]), count)


def _over_all(program: Callable, sharding: NamedSharding, *xs):
    """``program`` vmapped over every member, outputs on ``sharding`` (the inputs are placed
    on it already; the last ``program.shared`` inputs are the same for every member)."""
    return jax.lax.with_sharding_constraint(_vmapped(program)(*xs), sharding)


def _over_group(start, *xs, program: Callable, size: int):
    """``program`` vmapped over the ``size`` members from ``start`` on."""
    own = len(xs) - _shared(program)
    group = jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, size), xs[:own])
    return _vmapped(program)(*group, *xs[own:])


def _vmapped(program: Callable) -> Callable:
    shared = _shared(program)
    return lambda *xs: jax.vmap(program, in_axes=(0,) * (len(xs) - shared) + (None,) * shared)(*xs)


def _shared(program: Callable) -> int:
    """How many of ``program``'s trailing arguments every member shares (``program.shared``; 0
    for a function without the attribute)."""
    return getattr(program, "shared", 0)


def _name(program: Callable) -> str:
    """What the compile log and the watchdog call ``program``: its ``name``, else its own."""
    return getattr(program, "name", None) or getattr(program, "__name__", type(program).__name__)


def _compile(over: Callable, program: Callable, sharding: NamedSharding, args: tuple, kwargs=None, **static):
    """``over`` compiled for ``args`` under ``program``'s name, with the compile options for
    ``sharding``'s platform, through the executable cache (:func:`rnn_jax.runtime.compiler.compile`).
    ``program`` is a static argument hashed by value, so equal programs share one compilation."""
    platform = sharding.mesh.devices.flat[0].platform
    return compiler.compile(over, _name(program), platform, getattr(program, "runs_once", False), args, kwargs,
                            **static)


def _shards(xs, device: jax.Device):
    """The pytree ``xs`` of arrays sharded on the member axis -> its shard on ``device``."""
    return jax.tree.map(lambda a: next(s.data for s in a.addressable_shards if s.device == device), xs)


@jax.jit
def _concatenate(parts):
    """The groups' outputs joined on the member axis (one function, so equal structures trace once)."""
    return jax.tree.map(lambda *p: jax.numpy.concatenate(p), *parts)


class MemberPrograms:
    """Compiles functions of one member into programs over the stacked member axis.

    ``members_per_call=None``: one ``jit(vmap(fn))`` over every member, inputs and outputs
    on ``sharding``. ``k``: one compiled call per group of ``k`` members (a dynamic slice
    of the stacked inputs, then ``vmap``; a smaller last group gets its own compilation),
    the groups' calls run from one thread per core (XLA:CPU runs calls from different
    threads at the same time), and the outputs are concatenated again. The values depend
    on ``k``, not on the number of threads. Use as a context manager (it owns the threads).

    A program that must not run beside another on the host CPU
    (:func:`~rnn_jax.runtime.concurrency.must_run_alone`: a batched LAPACK call on jaxlib
    0.10-0.11, which can deadlock XLA:CPU's thread pool) runs one call at a time: its groups
    one after another, and over several host devices one device's shard after another. Its
    values do not change; only that program loses the second core.

    The functions are hashed by value (:mod:`rnn_jax.training.programs`) and passed to
    module-level jitted functions as static arguments, so equal functions share one
    compilation for the whole process and JAX's own cache tells apart everything else.
    Every call is compiled first and then run to completion under ``watch(name)`` (a
    context manager, e.g. a :class:`rnn_jax.runtime.watchdog.Watch`), so that a
    watchdog times the running alone, never the compiling.

    Args:
        members: the (padded) number of members.
        members_per_call: ``None`` or ``k`` (see above).
        sharding: the member axis's sharding.
        threads: worker threads for groups (default: :func:`cores`).
        watch: ``name -> context manager`` entered around each run of a compiled call
            (default: none).
    """

    def __init__(self, members: int, members_per_call: int | None, sharding: NamedSharding, *,
                 threads: int | None = None, watch: Callable[[str], Any] | None = None):
        self.sharding = sharding
        self.per_call = members_per_call
        k = members_per_call or members
        self.groups = [(start, min(k, members - start)) for start in range(0, members, k)]
        self.threads = threads
        self.watch = watch or (lambda name: contextlib.nullcontext())
        self._pool = None

    def __enter__(self) -> MemberPrograms:
        if self.per_call is not None and len(self.groups) > 1:
            from concurrent.futures import ThreadPoolExecutor

            workers = min(self.threads or cores(), len(self.groups))
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rnn_jax-members")
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __call__(self, fn: Callable):
        """``fn`` of one member's arrays -> a function of the stacked arrays.

        Args:
            fn: a function of one member's arrays, hashable (equal functions must compute
                the same thing), such as a program of :mod:`rnn_jax.training.programs`. Its
                optional attributes: ``name`` (what the watch and the compile log call it),
                ``shared`` (how many of its last arguments are the same for every member,
                placed with :meth:`Mesh1D.replicate`; default 0) and ``runs_once``
                (:mod:`~rnn_jax.runtime.compiler`; default ``False``).
        """
        over = self._run_all if self.per_call is None else self._run_groups
        return functools.partial(over, fn, _name(fn), {})

    def _check_alone(self, name: str, compiled, devices) -> bool:
        """Whether program ``name`` must run one call at a time (:mod:`~rnn_jax.runtime.concurrency`)."""
        return concurrency.must_run_alone(compiled, devices) is not None

    def _run_all(self, fn, name, cache, *xs):
        # Compiled ahead of time, in the caller's thread, so that its JAX settings apply.
        if "all" not in cache:
            cache["all"] = compiled = _compile(_over_all, fn, self.sharding, (fn, self.sharding, *xs),
                                               static_argnums=(0, 1))
            devices = sorted(self.sharding.addressable_devices, key=lambda d: d.id)
            if len(devices) > 1 and self._check_alone(name, compiled, devices):
                cache["devices"] = {}
                for d in devices:
                    local = _shards(xs, d)
                    size = jax.tree.leaves(local)[0].shape[0]
                    cache["devices"][d] = _compile(_over_group, fn, self.sharding, (0, *local),
                                                   {"program": fn, "size": size}, static_argnames=("program", "size"))
        with self.watch(name):
            if "devices" in cache:
                return self._device_by_device(cache["devices"], xs)
            return jax.block_until_ready(cache["all"](*xs))

    def _device_by_device(self, compiled, xs):
        """The compiled ``vmap(fn)`` on each local device's shard of ``xs``, one device after
        another, reassembled on :attr:`sharding`."""
        outs = [jax.block_until_ready(program(0, *_shards(xs, device))) for device, program in compiled.items()]
        members = jax.tree.leaves(xs)[0].shape[0]

        def assemble(*parts):
            return jax.make_array_from_single_device_arrays((members, *parts[0].shape[1:]), self.sharding,
                                                            list(parts))

        return jax.tree.map(assemble, *outs)

    def _run_groups(self, fn, name, cache, *xs):
        # Traced and compiled here, in the caller's thread, so that its JAX settings
        # (``with jax.numpy_dtype_promotion(...)``, matmul precision...) apply; the
        # worker threads only run the compiled programs.
        for _, size in self.groups:
            if size not in cache:  # compiled once, not looked up on every call
                cache[size] = _compile(_over_group, fn, self.sharding, (0, *xs), {"program": fn, "size": size},
                                       static_argnames=("program", "size"))
        if "alone" not in cache:
            cache["alone"] = len(self.groups) > 1 and any(
                self._check_alone(name, cache[size], self.sharding.addressable_devices) for _, size in self.groups)

        def one(start_size):
            start, size = start_size
            return jax.block_until_ready(cache[size](start, *xs))

        with self.watch(name):
            together = self._pool is not None and not cache["alone"]
            parts = list(self._pool.map(one, self.groups) if together else map(one, self.groups))
        return parts[0] if len(parts) == 1 else _concatenate(parts)

"""Where members run: devices, processes and compiled calls.

The member axis is padded to a multiple of the devices and sharded over a
``jax.sharding.Mesh`` of them; with several processes each holds its own shards and results
are gathered on the host. On one CPU device the members may instead run as groups, one
compiled call per group and one call per core at a time (:class:`MemberPrograms`). Which is
used is a :class:`Placement`, resolved once by :func:`resolve_placement`.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import os
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rnn_jax import _checks
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

    Measured with ``benchmarks.strategies`` on a 2-core CPU (16 LSTM members on the adding
    problem, B=32, T=100, 200 steps; speed-up over training them one after another):

    - several devices (GPUs, TPUs, or host devices forced with ``XLA_FLAGS``): ``vmap``
      with the members sharded over the devices.
    - one CPU device: groups of ``k`` members, one compiled call per group and one call
      running per core at a time (see :class:`MemberPrograms`). XLA:CPU runs a batched
      matmul no faster per member than a single one, so a ``vmap`` over all 16 members gains
      little or loses (1.30x at h=16, 0.94x at h=32, 0.93x at h=64), while groups keep
      every core busy: widest layer <= 16: groups of 4 (2.18x; groups of 1: 1.88x);
      <= 32: groups of 2 (1.65x; 1 and 4 member(s) within 1% of it); wider: one member
      per call (h=64: 2.37x; groups of 2: 2.27x, of 4: 2.00x).
    - one GPU or TPU: ``vmap`` (batched matmuls are what accelerators are built for).

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


SHARED_PROGRAMS = 64
"""How many jitted programs over members a process keeps for runs to share (least recently used dropped)."""
_shared: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()


def _share(key: Hashable | None, variant: Hashable, make: Callable[[], Any]) -> Any:
    """The jitted function kept under ``(key, variant)``, made by ``make`` the first time
    (``key=None``: a new one, not kept)."""
    if key is None:
        return make()
    key = (key, variant)
    program = _shared.pop(key) if key in _shared else make()
    _shared[key] = program
    while len(_shared) > SHARED_PROGRAMS:
        _shared.popitem(last=False)
    return program


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

    Functions given the same ``key`` (see :meth:`__call__`) are one jitted function for the
    whole process, so a second run of the same programs traces and compiles nothing: JAX's
    own cache then tells apart inputs of other shapes and other JAX settings.

    Args:
        members: the (padded) number of members.
        members_per_call: ``None`` or ``k`` (see above).
        sharding: the member axis's sharding.
        threads: worker threads for groups (default: :func:`cores`).
    """

    def __init__(self, members: int, members_per_call: int | None, sharding: NamedSharding, *,
                 threads: int | None = None):
        self.sharding = sharding
        self.per_call = members_per_call
        k = members_per_call or members
        self.groups = [(start, min(k, members - start)) for start in range(0, members, k)]
        self.threads = threads
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

    def __call__(self, fn, key: Hashable | None = None):
        """``fn`` of one member's arrays -> a function of the stacked arrays.

        Args:
            fn: the function of one member.
            key: ``None``, or what identifies ``fn``'s program: functions given equal keys
                must compute the same thing (the runner uses
                :meth:`~rnn_jax.training.trainer.Trainer.program_key`), and share one jitted function.
        """
        if self.per_call is None:
            return _share(key, self.sharding, lambda: jax.jit(
                jax.vmap(fn), in_shardings=self.sharding, out_shardings=self.sharding))

        def make_group():
            @functools.partial(jax.jit, static_argnames="size")
            def group(start, *xs, size):
                return jax.vmap(fn)(*jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, size), xs))

            return group

        group = _share(key, "groups", make_group)
        compiled = {}

        def over_members(*xs):
            # Traced and compiled here, in the caller's thread, so that its JAX settings
            # (``with jax.numpy_dtype_promotion(...)``, matmul precision...) apply; the
            # worker threads only run the compiled programs.
            for _, size in self.groups:
                if size not in compiled:
                    compiled[size] = group.lower(0, *xs, size=size).compile()

            def one(start_size):
                start, size = start_size
                return jax.block_until_ready(compiled[size](start, *xs))

            parts = self._pool.map(one, self.groups) if self._pool is not None else map(one, self.groups)
            return _concatenate(list(parts))

        return over_members

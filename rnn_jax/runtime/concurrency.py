"""Which compiled programs must not run beside another on XLA:CPU.

jaxlib 0.10.0 to 0.11.0 split a batched LAPACK call (QR, SVD, LU, Cholesky, eigen-
decompositions: the ``lapack_*_ffi`` custom calls) into chunks on XLA:CPU's intra-op thread
pool, then block the thread that runs the call until the chunks are done
(``ParallelBatchMap`` in ``jaxlib/cpu/lapack_kernels.cc``). That thread is itself one of the
pool's workers. When every worker blocks that way at once, the chunks they wait for can
never start, and the process hangs at 0% CPU. On a 2-core machine the pool has 2
workers, so two programs that reach such a call at the same time are enough: two member
groups run from two threads, or one sharded program over two host devices.

A call is split only when its batch has more than one matrix and the batch's cost estimate
reaches 2e5 flops. The runner's Lyapunov QR of an ``[8, 256, 8]`` frame is over that line,
and an ``[8, 128, 8]`` one is under it: this is why an LSTM of hidden size 128 (a state of
256) hung with 2 seeds while hidden 64 did not. Upstream compiled the split out of
open-source builds after 0.11.0 (jax commit 859992407d, "Don't try to parallelize LAPACK
kernels in opensource builds").

:func:`blocking_kernel` reads a compiled program's HLO for such a call, so that
:class:`~rnn_jax.runner.placement.MemberPrograms` runs just those programs one call at a
time. The check is conservative: it flags every batched LAPACK call, not only the ones
whose cost estimate would split them.
"""

from __future__ import annotations

import functools
import math
import re

import jax

AFFECTED_JAXLIB = ((0, 10, 0), (0, 11, 0))
"""The jaxlib releases (first, last) whose LAPACK kernels block a pool worker on the pool."""

_LAPACK_CALL = re.compile(r'custom_call_target="(lapack_\w+)"')
_OPERAND_SHAPE = re.compile(r"operand_layout_constraints=\{\w+\[([\d,]*)\]")


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


@functools.cache
def jaxlib_affected() -> bool:
    """Whether the installed jaxlib's LAPACK kernels can block XLA:CPU's pool."""
    first, last = AFFECTED_JAXLIB
    import jaxlib

    return first <= _release(jaxlib.__version__) <= last


def blocking_kernel(hlo_text: str) -> str | None:
    """The first batched LAPACK custom call in an optimised HLO module's text (its target,
    e.g. ``"lapack_sgeqrf_ffi"``), or ``None``. A call on one matrix never splits, so it is
    not counted; a call whose operand shape cannot be read is."""
    for line in hlo_text.splitlines():
        call = _LAPACK_CALL.search(line)
        if call is None:
            continue
        shape = _OPERAND_SHAPE.search(line)
        dims = [int(d) for d in shape.group(1).split(",") if d] if shape else None
        batch = None if dims is None else math.prod(dims[:-2])
        if batch is None or batch > 1:
            return call.group(1)
    return None


def must_run_alone(compiled: jax.stages.Compiled, devices) -> str | None:
    """Why ``compiled`` must not run beside another call on the host CPU (the kernel's
    name), or ``None`` when it may: always ``None`` off the CPU and on an unaffected jaxlib."""
    if not jaxlib_affected() or all(d.platform != "cpu" for d in devices):
        return None
    return blocking_kernel(compiled.as_text())

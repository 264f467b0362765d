"""The runner's watchdog: a compiled call that stops making progress ends the run, loudly.

A deadlock inside XLA (see :mod:`rnn_jax.runtime.concurrency`) leaves the process waiting at
0% CPU, forever, with nothing on the screen. The watchdog times every run of a compiled
call (never its compilation, :class:`~rnn_jax.runner.placement.MemberPrograms`). A call is
stuck when it has run for longer than :meth:`Watchdog.limit` (a multiple of the longest run
of the same program so far, and at least a floor) *and* the process has used almost no CPU
over the last ``idle_window`` seconds: a slow call on a loaded machine still computes, a
deadlocked one does not. Then one line names the program, the members and the step, the
run directory's ``status.json`` records it, and the process exits with status
:data:`EXIT_HUNG`. Nothing is lost: the run directory holds its last complete checkpoint,
and the same command resumes from it. The process has to end: its XLA thread pool is stuck,
so any later computation in it would hang too (in Jupyter, the kernel restarts).

    run(cfg, seeds=8, run_dir="runs/x", watchdog=Watchdog(floor=600))   # None turns it off
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

from rnn_jax import _checks

EXIT_HUNG = 75
"""The exit status of a process the watchdog stopped (``EX_TEMPFAIL``: try again)."""


@dataclasses.dataclass(frozen=True)
class Watchdog:
    """When a compiled call counts as stuck.

    Attributes:
        factor: the limit is this multiple of the longest run of the same program so far...
        floor: ...and at least this many seconds (the whole limit for a program's first run).
        idle_window: seconds over which the process's CPU use is measured.
        idle_cpu: stuck only if the process used less than this fraction of one core over
            the last ``idle_window`` seconds.
        poll: seconds between checks.
    """

    factor: float = 20.0
    floor: float = 300.0
    idle_window: float = 30.0
    idle_cpu: float = 0.05
    poll: float = 1.0

    def __post_init__(self):
        for name in ("factor", "floor", "idle_window", "poll"):
            _checks.number(getattr(self, name), f"watchdog.{name}", low=0.0, low_open=True)
        _checks.number(self.idle_cpu, "watchdog.idle_cpu", low=0.0, high=1.0)
        if self.factor < 1:
            raise ValueError(f"watchdog.factor={self.factor} must be >= 1: a program may take as long as it did before")

    def limit(self, longest: float | None) -> float:
        """Seconds a run of a program may take, given its longest run so far (``None``: none yet)."""
        return max(self.floor, self.factor * (longest or 0.0))


def stop_process(line: str) -> None:
    """What a stuck run does by default: the line on stderr, then exit with :data:`EXIT_HUNG`
    (``os._exit``: the stuck threads can never be joined)."""
    print(line, file=sys.stderr, flush=True)
    os._exit(EXIT_HUNG)


class Watch:
    """A :class:`Watchdog` at work for one run: ``with watch(name): ...`` around each run of a
    compiled call. ``where()`` describes the members and the step for the line; ``on_hang``
    receives the line (default :func:`stop_process`; a test may record it instead)."""

    def __init__(self, settings: Watchdog, where: Callable[[], str], on_hang: Callable[[str], None] = stop_process):
        self.settings = settings
        self.where = where
        self.on_hang = on_hang
        self.longest: dict[str, float] = {}
        self._running: tuple[str, float] | None = None
        self._cpu: collections.deque[tuple[float, float]] = collections.deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._check, name="rnn_jax-watchdog", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        self._running = (name, start)
        try:
            yield
        finally:
            self._running = None
            self.longest[name] = max(self.longest.get(name, 0.0), time.monotonic() - start)

    def close(self) -> None:
        """Stops the watchdog's thread."""
        self._stop.set()
        self._thread.join()

    def _idle(self, now: float) -> tuple[bool, float]:
        """Whether the process has been idle over the last window, and its CPU use there."""
        window = self.settings.idle_window
        self._cpu.append((now, time.process_time()))
        while len(self._cpu) > 1 and self._cpu[1][0] <= now - window:
            self._cpu.popleft()
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        if t1 - t0 < window * 0.9:
            return False, float("nan")
        use = (c1 - c0) / (t1 - t0)
        return use < self.settings.idle_cpu, use

    def _check(self) -> None:
        while not self._stop.wait(self.settings.poll):
            now = time.monotonic()
            idle, use = self._idle(now)
            running = self._running
            if running is None:
                continue
            name, start = running
            longest = self.longest.get(name)
            limit = self.settings.limit(longest)
            if now - start > limit and idle:
                before = "its first run" if longest is None else f"its longest run before took {longest:.1f} s"
                self.on_hang(f"rnn_jax watchdog: program {name!r} made no progress for {now - start:.0f} s "
                             f"({before}; limit {limit:.0f} s; the process used {use:.0%} of a core over the last "
                             f"{self.settings.idle_window:.0f} s), {self.where()}; the run stops")
                return

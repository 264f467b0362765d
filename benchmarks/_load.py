"""Is the machine quiet? Other processes' CPU use, before, during and after a benchmark.

A ratio against PyTorch measured beside another job is void: PyTorch runs on both threads
of this 2-core machine and slows several-fold when another job holds a core, while our
programs run one thread per core and suffer less, so the other job biases the ratio our
way (a PyTorch loop measured beside ``benchmarks.newton`` took 92.5 s, alone about 10 s).

:class:`Watch` samples every other process's CPU use (``psutil``) before the benchmark,
every few seconds while it runs, and after it; a benchmark refuses to start on a busy
machine (``--allow-load`` runs it anyway), and its JSON record says what was seen.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import psutil

BUSY_CORES = 0.5
"""Other processes using this many cores (or more) make the machine busy."""


def _ours() -> set[int]:
    me = psutil.Process()
    family = {me.pid, *(child.pid for child in me.children(recursive=True))}
    family.update(parent.pid for parent in me.parents())  # the shell or pytest that waits for us
    return family


def others(seconds: float = 1.0) -> dict[str, Any]:
    """Every other process's CPU use over ``seconds``: ``cores`` in all, and the five busiest
    (``pid``, ``cores``, ``command``); plus the 1-minute load average."""
    ours = _ours()
    processes = [p for p in psutil.process_iter(["pid", "cmdline", "name"]) if p.pid not in ours]
    for p in processes:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(seconds)
    busy = []
    for p in processes:
        try:
            cores = p.cpu_percent(None) / 100
        except psutil.Error:
            continue
        if cores > 0.02:
            command = " ".join(p.info["cmdline"] or [p.info["name"] or "?"])[:120]
            busy.append({"pid": p.pid, "cores": round(cores, 2), "command": command})
    busy.sort(key=lambda b: -b["cores"])
    return {"cores": round(sum(b["cores"] for b in busy), 2), "busiest": busy[:5],
            "loadavg_1m": round(os.getloadavg()[0], 2)}


class Watch:
    """Samples :func:`others` before (at construction), every ``every`` seconds while the
    benchmark runs, and at :meth:`finish`."""

    def __init__(self, every: float = 10.0):
        self.before = others()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(every,), daemon=True)
        self._thread.start()

    @property
    def busy_before(self) -> bool:
        return self.before["cores"] >= BUSY_CORES

    def _sample(self, every: float) -> None:
        while not self._stop.wait(every):
            seen = others()
            if seen["cores"] > self.peak["cores"]:
                self.peak = seen

    def finish(self) -> dict[str, Any]:
        """The record for the JSON; warns loudly when another job held a core."""
        self._stop.set()
        self._thread.join()
        after = others()
        worst = max((self.before, self.peak, after), key=lambda s: s["cores"])
        loaded = worst["cores"] >= BUSY_CORES
        if loaded:
            print(describe(worst, "WARNING: this measurement is void for ratios against PyTorch"), file=sys.stderr)
        return {"loaded": loaded, "others_cores_peak": worst["cores"], "before": self.before, "during_peak": self.peak,
                "after": after}


def describe(seen: dict[str, Any], headline: str) -> str:
    rows = "\n".join(f"    pid {b['pid']}: {b['cores']:.2f} cores  {b['command']}" for b in seen["busiest"])
    return (f"\n{'!' * 78}\n{headline}: other processes used {seen['cores']:.2f} cores "
            f"(load average {seen['loadavg_1m']}):\n{rows}\n{'!' * 78}\n")

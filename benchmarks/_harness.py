"""Shared benchmark plumbing: the CLI (--quick, --json), robust timing, tables, JSON records.

The machine is noisy: contenders are timed in alternation, each call repeated, and the
median taken. Every record also stores the machine and package versions, and the other
processes' CPU use before, during and after (:mod:`benchmarks._load`): a benchmark refuses
to start while another job holds a core, unless ``--allow-load``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


COMPILE_STAGES = r"""
import jax
seconds = {"compile_s": 0.0, "trace_s": 0.0, "lower_s": 0.0, "backend_s": 0.0, "programs": 0}
by_program = {}
STAGES = {"/jax/core/compile/jaxpr_trace_duration": "trace_s",
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
          "/jax/core/compile/backend_compile_duration": "backend_s"}
def listen(event, duration, fun_name="?", **kwargs):
    if event in STAGES:
        stage = STAGES[event]
        own = by_program.setdefault(fun_name.removeprefix("jit(").removesuffix(")"),
                                    {"trace_s": 0.0, "lower_s": 0.0, "backend_s": 0.0, "programs": 0})
        seconds["compile_s"] += duration
        seconds[stage] += duration
        own[stage] += duration
        if stage == "backend_s":
            seconds["programs"] += 1
            own["programs"] += 1
jax.monitoring.register_event_duration_secs_listener(listen)
"""
"""Script text that sums, in ``seconds``, the time JAX's monitoring reports for tracing,
lowering and XLA's backend compile (or persistent-cache read), and counts the programs
compiled; ``by_program`` holds the same by the compiled function's name (the runner's
programs are ``init``, ``chunk``, ``evaluate``, ``diagnose`` and ``held_out``;
:mod:`rnn_jax.runtime.compiler`). Needs nothing imported."""

EXPERIMENT_DRIVER = """
import json, sys, time
start = time.perf_counter()
""" + COMPILE_STAGES + r"""
from experiments import _common, vanishing_gradients
_common.cli(vanishing_gradients.main, vanishing_gradients.Config)
print(json.dumps({**seconds, "wall_s": time.perf_counter() - start, "by_program": by_program}))
"""
"""``python -c EXPERIMENT_DRIVER [options]`` runs ``experiments.vanishing_gradients`` as its
command line does (imports included in ``wall_s``), then prints its compile times as JSON."""


def program_lines(by_program: Mapping[str, Mapping[str, float]], indent: str = "  ") -> str:
    """The compile time of each program, longest backend compile first, one line each."""
    rows = sorted(by_program.items(), key=lambda kv: -kv[1]["backend_s"])
    return "\n".join(f"{indent}{name:<28} x{v['programs']:<3.0f} trace {v['trace_s']:5.2f}  lower {v['lower_s']:5.2f}  "
                     f"XLA {v['backend_s']:5.2f} s" for name, v in rows)


def program_delta(after: Mapping[str, Mapping[str, float]], before: Mapping[str, Mapping[str, float]]):
    """``by_program`` of what was compiled between two snapshots."""
    zero = {"trace_s": 0.0, "lower_s": 0.0, "backend_s": 0.0, "programs": 0}
    delta = {name: {k: v[k] - before.get(name, zero)[k] for k in zero} for name, v in after.items()}
    return {name: v for name, v in delta.items() if v["programs"] or v["trace_s"] > 0}


TORCH_ADDING_BATCH = r"""
def adding_batch(n, generator):
    values = torch.rand(n, T, generator=generator)
    first = torch.randint(0, T // 2, (n, 1), generator=generator)
    second = torch.randint(T // 2, T, (n, 1), generator=generator)
    steps = torch.arange(T)[None]
    marked = ((steps == first) | (steps == second)).float()
    return torch.stack([values, marked], -1), (values * marked).sum(1, keepdim=True)
"""
"""The adding problem's batches in PyTorch (needs ``torch`` and ``T``), for the benchmarks'
PyTorch scripts."""


def parse(description: str, configure: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The common CLI, plus the benchmark's own options (``configure`` adds them). Benchmarks
    compile from scratch: the persistent compilation cache is off in the benchmark's own
    process unless the benchmark turns it on to measure it."""
    from rnn_jax.runtime import compile_cache

    compile_cache.disable()
    parser = argparse.ArgumentParser(description=description)
    if configure is not None:
        configure(parser)
    parser.add_argument("--quick", action="store_true", help="a reduced run that finishes in under 2 minutes")
    parser.add_argument("--json", metavar="PATH", help="also write the records as JSON to PATH")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per contender (default: 7, quick: 3)")
    parser.add_argument("--allow-load", action="store_true",
                        help="run even while other processes hold a core (the record is marked loaded)")
    args = parser.parse_args()
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected a positive number")
    from benchmarks import _load

    args.load = _load.Watch()
    if args.load.busy_before and not args.allow_load:
        args.load.finish()
        parser.exit(2, _load.describe(args.load.before, "refused: the machine is not quiet") +
                    "Benchmark alone (check `uptime` and `ps`), or pass --allow-load for a number marked loaded.\n")
    return args


def time_alternating(contenders: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median wall time in milliseconds of each contender, timing them in turn.

    Each timed call follows one untimed call of the same contender. Without it, whoever
    ran right after PyTorch paid for PyTorch's worker threads still spinning (measured: an
    RNN step at (100, 32, 2, 128) took 8.9 ms right after torch and 5.8 ms otherwise), so
    the order of the contenders decided the ratios.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            fn()
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def machine() -> dict[str, Any]:
    """The run environment the runner records (:func:`rnn_jax.io.rundir.environment`), plus torch's version."""
    from rnn_jax.io.rundir import environment

    info = environment()
    try:
        import torch

        info["versions"]["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def table(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    rows = [[fmt(r.get(c, "")) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def finish(name: str, args: argparse.Namespace, records: list[dict[str, Any]], columns: Sequence[str]) -> None:
    load = args.load.finish()
    print(table(records, columns))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": name, "quick": args.quick, "machine": machine(), "load": load, "records": records},
                      f, indent=2)
        print(f"\nwrote {args.json}")

"""Where one training step's time goes, by operation: ours under JAX's profiler, PyTorch's
under ``torch.profiler``, the same step as ``benchmarks.cells`` at one shape.

Ours is XLA:CPU's thunk runtime: every operation of the compiled program (a matmul, a fused
elementwise kernel, a while loop) is one thunk, and the profiler times each. The table groups
them: per-step matmuls inside the loops, the matmuls after them, elementwise fusions, copies
and dynamic-update-slices (stacking a step's outputs), and the loops' own overhead (a loop's
time minus its body's thunks). Profiling adds a cost per thunk, so the profiled step is
slower than the timed one; the shares are what to read. PyTorch's step is reported by its
operators' self time, and timed with one thread and with two.

    python -m benchmarks.op_profile [--cell lstm] [--shape T B I H] [--quick] [--json PATH]
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import tempfile

import jax

from benchmarks import _harness, cells


def matmul_thunks(hlo: str) -> set[str]:
    """Names of the instructions of compiled ``hlo`` text that are, or fuse, a ``dot``
    (XLA:CPU runs most dots as YNNPACK fusions, named ``ynn_fusion.N``)."""
    computations, current = {}, None
    for line in hlo.splitlines():
        header = re.match(r"^(?:ENTRY )?%?([\w.-]+) .*\{$", line)
        if header:
            current = computations.setdefault(header.group(1), [])
        elif current is not None:
            current.append(line)
    with_dot = {name for name, lines in computations.items() if any(" dot(" in ln for ln in lines)}
    names = set()
    for lines in computations.values():
        for line in lines:
            match = re.match(r"^\s*(?:ROOT )?%([\w.-]+) = .*?(?: dot\(|calls=%([\w.-]+))", line)
            if match and (match.group(2) is None or match.group(2) in with_dot):
                names.add(match.group(1))
    return names


def _options(parser) -> None:
    parser.add_argument("--cell", default="lstm", choices=("lstm", "gru", "rnn"))
    parser.add_argument("--shape", type=int, nargs=4, default=(100, 32, 2, 128), metavar=("T", "B", "I", "H"))


def _thunks(trace_dir: str) -> list[dict]:
    """The complete ("X") events of the XLA:CPU threads in the profile written to ``trace_dir``."""
    path = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)[0]
    with gzip.open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    threads = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
               and "XLA" in e["args"]["name"]}
    return [e for e in events if e.get("ph") == "X" and (e["pid"], e["tid"]) in threads]


def _is_container(event: dict) -> bool:
    """Events that hold thunks rather than being one: executors and while loops."""
    return event["name"].startswith("while") or "Execute" in event["name"]


def _thunks_only(events: list[dict]) -> list[dict]:
    """The thunks not nested in another thunk (a fusion's own sub-events are not counted twice)."""
    kept = []
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    for thread in by_thread.values():
        thread.sort(key=lambda e: (e["ts"], -e["dur"]))
        enclosing: list[dict] = []
        for e in thread:
            while enclosing and enclosing[-1]["ts"] + enclosing[-1]["dur"] < e["ts"] + e["dur"]:
                enclosing.pop()
            if not _is_container(e) and all(_is_container(outer) for outer in enclosing):
                kept.append(e)
            enclosing.append(e)
    return kept


def _covered(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of ``(start, end)`` intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def categorise(events: list[dict], matmuls: set[str], steps: int) -> dict[str, dict[str, float]]:
    """Milliseconds per step and calls per step of each kind of thunk (``matmuls``: the
    names of those that are matmuls).

    A thunk is in a loop when its interval lies within a ``while`` thunk's (on any thread:
    the runtime may run a body's thunks on another); a loop's overhead is its time minus
    the time its body's thunks cover.
    """
    loops = [e for e in events if e["name"].startswith("while")]
    members = collections.defaultdict(list)  # loop index -> its body's thunk intervals
    kinds: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])

    def add(kind, duration):
        kinds[kind][0] += duration
        kinds[kind][1] += 1

    for e in _thunks_only(events):
        name, end = e["name"], e["ts"] + e["dur"]
        loop = next((i for i, w in enumerate(loops) if w["ts"] <= e["ts"] and end <= w["ts"] + w["dur"]), None)
        where = "in the loops" if loop is not None else "outside the loops"
        if loop is not None:
            members[loop].append((e["ts"], end))
        if name in matmuls:
            add(f"matmuls {where}", e["dur"])
        elif "dynamic-update-slice" in name or name.startswith(("copy", "concatenate", "dynamic-slice", "slice")):
            add(f"copies, slices, stacking {where}", e["dur"])
        else:
            add(f"elementwise fusions {where}", e["dur"])
    for i, w in enumerate(loops):
        add("loop overhead (loop minus its body)", w["dur"] - _covered(members[i]))
    return {kind: {"ms_per_step": total / 1e3 / steps, "calls_per_step": count / steps}
            for kind, (total, count) in sorted(kinds.items(), key=lambda kv: -kv[1][0])}


def profile_ours(cell: str, shape, steps: int) -> tuple[float, dict]:
    program, args = cells.ours_program(cell, *shape)
    matmuls = matmul_thunks(program.lower(*args).compile().as_text())

    def step():
        jax.block_until_ready(program(*args))

    timed = _harness.time_alternating({"ours": step}, steps)["ours"]
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            for _ in range(steps):
                step()
        return timed, categorise(_thunks(trace_dir), matmuls, steps)


def profile_torch(cell: str, shape, steps: int) -> tuple[dict[int, float], dict]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    step = cells.torch_step(cell, *shape)
    timed = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        timed[threads] = _harness.time_alternating({"torch": step}, steps)["torch"]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    ops = sorted(prof.key_averages(), key=lambda a: -a.self_cpu_time_total)[:6]
    return timed, {op.key: {"ms_per_step": op.self_cpu_time_total / 1e3 / steps, "calls_per_step": op.count / steps}
                   for op in ops}


def main() -> None:
    args = _harness.parse(__doc__, _options)
    steps = 5 if args.quick else 20
    shape = tuple(args.shape)
    records = []
    timed, kinds = profile_ours(args.cell, shape, steps)
    profiled = sum(k["ms_per_step"] for k in kinds.values())
    records.append({"contender": "ours", "what": "step, timed (not profiled)", "ms_per_step": timed})
    for kind, values in kinds.items():
        records.append({"contender": "ours", "what": kind, **values, "share": values["ms_per_step"] / profiled})
    try:
        torch_timed, ops = profile_torch(args.cell, shape, steps)
    except ImportError:
        print("torch is not installed: only ours is profiled")
    else:
        for threads, ms in torch_timed.items():
            records.append({"contender": "torch", "what": f"step, timed, {threads} thread(s)", "ms_per_step": ms})
        total = sum(op["ms_per_step"] for op in ops.values())
        for name, values in ops.items():
            records.append({"contender": "torch", "what": name, **values, "share": values["ms_per_step"] / total})
    print(f"{args.cell}, (T, B, I, H) = {shape}, {steps} profiled steps")
    _harness.finish("op_profile", args, records, ["contender", "what", "ms_per_step", "calls_per_step", "share"])


if __name__ == "__main__":
    main()

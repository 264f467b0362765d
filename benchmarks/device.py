"""Everything worth knowing about a device in one command and at most 8 minutes: for the few
minutes someone lends us a GPU or TPU (and for this CPU).

1. the cells (LSTM, GRU, tanh RNN, one training step) against Flax's ``linen.RNN`` and,
   where the platform has it (CUDA), ``jax.experimental.rnn``'s cuDNN LSTM;
2. ``unroll`` sequential against Newton/DEER (``mode="newton"``) up to T = 10^4;
3. the runner at 1, 8 and 64 seeds (an LSTM on the adding problem): wall time with
   compilation, and steps per second after it.

Sizes scale to the device (:data:`SIZES`: small on a CPU, larger on an accelerator). Each
part has a share of the time budget (``--budget``, default 480 s; 150 s with ``--quick``)
and measures its sizes from the smallest on, skipping (and recording) what its share no
longer allows. The result is one JSON (``--json``).

    python -m benchmarks.device [--quick] [--budget SECONDS] [--json PATH]
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from benchmarks import _harness, cells, newton
from rnn_jax import tasks
from rnn_jax.runner import run
from rnn_jax.training import TrainConfig, model_for
from rnn_jax.optimizer import Optax

SIZES = {
    "cpu": {"cells": [(100, 32, 2, 128), (200, 128, 64, 256)], "newton_T": [100, 1000, 10_000],
            "newton_B_H": (16, 32), "runner_H": 32},
    "accelerator": {"cells": [(100, 64, 32, 256), (1000, 256, 64, 512), (200, 1024, 128, 1024)],
                    "newton_T": [100, 1000, 10_000], "newton_B_H": (16, 64), "runner_H": 128},
}
QUICK = {"cells": [(50, 16, 2, 32)], "newton_T": [100], "newton_B_H": (8, 16), "runner_H": 16}
SHARES = {"cells": 0.4, "newton": 0.3, "runner": 0.3}
SEEDS = (1, 8, 64)


def _options(parser) -> None:
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole benchmark (default 480; --quick: 150)")


class Share:
    """A part's share of the budget: ``left()`` is true while it may start another size."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> bool:
        return time.monotonic() < self.deadline


def cudnn_lstm(T: int, B: int, I: int, H: int):
    """One training step of ``jax.experimental.rnn.lstm`` (cuDNN; CUDA only)."""
    from jax.experimental import rnn

    weights = rnn.init_lstm_weight(jax.random.key(0), I, H, 1, False)
    x = jax.random.normal(jax.random.key(1), (B, T, I))
    zeros, lengths = jnp.zeros((1, B, H)), jnp.full((B,), T, jnp.int32)

    def loss(w, x):
        y, _, _ = rnn.lstm(x, zeros, zeros, w, lengths, input_size=I, hidden_size=H, num_layers=1, dropout=0.0,
                           bidirectional=False)
        return jnp.sum(y[:, -1] ** 2)

    step = jax.jit(jax.grad(loss))
    return lambda: jax.block_until_ready(step(weights, x))


def bench_cells(sizes, repeats: int, share: Share, platform: str) -> list[dict]:
    records = []
    for shape in sizes:
        for name in ("lstm", "gru", "rnn"):
            if not share.left():
                records.append({"part": "cells", "cell": name, "shape": shape, "skipped": "budget"})
                continue
            extra = {"cudnn": cudnn_lstm(*shape)} if name == "lstm" and platform == "gpu" else None
            records.append({"part": "cells", **cells.measure(name, shape, repeats, extra)})
    return records


def bench_newton(lengths, batch_hidden, repeats: int, share: Share) -> list[dict]:
    records = []
    batch, hidden = batch_hidden
    for T in lengths:
        if not share.left():
            records.append({"part": "newton", "T": T, "skipped": "budget"})
            continue
        methods = newton.METHODS if T <= 1000 else ("diagonal", "quasi_elk")  # the full Jacobians grow as T H^2
        records += [{"part": "newton", **r} for r in newton.measure("gru", T, repeats, methods, batch, hidden)]
    return records


def bench_runner(hidden: int, steps: int, share: Share) -> list[dict]:
    task = tasks.get("adding", seq_len=100)
    cfg = TrainConfig(model=model_for(task, "lstm", hidden), task=task, steps=steps, eval_every=steps // 2,
                      batch_size=32, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.001)))
    records = []
    for seeds in SEEDS:
        if not share.left():
            records.append({"part": "runner", "seeds": seeds, "skipped": "budget"})
            continue
        start = time.perf_counter()
        run(cfg, seeds=seeds, progress=False, diagnose_at=[], watchdog=None)
        cold = time.perf_counter() - start  # compiling included
        start = time.perf_counter()
        run(cfg, seeds=seeds, progress=False, diagnose_at=[], watchdog=None)  # compiled already
        warm = time.perf_counter() - start
        records.append({"part": "runner", "seeds": seeds, "H": hidden, "steps": steps, "wall_s": cold,
                        "compiled_wall_s": warm, "member_steps_per_s": seeds * steps / warm})
        print(f"runner, {seeds} seeds: {cold:.1f} s with compiling, {warm:.1f} s without", flush=True)
    return records


def main() -> None:
    args = _harness.parse(__doc__, _options)
    platform = jax.devices()[0].platform
    sizes = QUICK if args.quick else SIZES["cpu" if platform == "cpu" else "accelerator"]
    budget = args.budget or (150.0 if args.quick else 480.0)
    repeats = args.repeats or (2 if args.quick else 5)
    print(f"{jax.devices()[0].device_kind} ({platform}), budget {budget:.0f} s", flush=True)
    share = lambda part: Share(budget * SHARES[part])  # noqa: E731  (each part's clock starts with it)
    records = bench_cells(sizes["cells"], repeats, share("cells"), platform)
    records += bench_newton(sizes["newton_T"], sizes["newton_B_H"], repeats, share("newton"))
    records += bench_runner(sizes["runner_H"], 20 if args.quick else 200, share("runner"))
    for record in records:
        record.setdefault("device", jax.devices()[0].device_kind)
    _harness.finish("device", args, records, ["part", "cell", "T", "mode", "seeds", "ours_ms", "flax_ms",
                                              "cudnn_ms", "ours/flax", "forward_ms", "vs_sequential", "wall_s",
                                              "member_steps_per_s", "skipped"])


if __name__ == "__main__":
    main()

"""The two weight-gradient paths of ``unroll`` over a grid of shapes: one training step
(forward + backward, loss on the last output) with ``weight_gradients="per_step"`` (autodiff
of the scan) and ``"one_matmul"`` (custom VJP), in one process, alternating. The ratio
``one_matmul / per_step`` is what ``rnn_jax.unroll.choose_weight_gradients``'s rule
is read from; the ``auto`` column says what the rule picks.

With ``--runner``: instead, the runner trains 8 seeds of the main experiment's shape (adding
problem, T = 100, h = 32, batch 32, 500 steps, compilation included, no persistent cache)
with each path, twice, alternating; at h = 32 it trains groups of seeds under ``vmap``.

    python -m benchmarks.weight_gradients [--quick] [--runner] [--json PATH]
"""

from __future__ import annotations

import tempfile
import time

import jax
import jax.numpy as jnp

from benchmarks import _harness
from rnn_jax import cells, unroll
from rnn_jax.unroll import Options, choose_weight_gradients

T, I = 100, 16
BATCHES = (8, 32, 128, 512)
HIDDEN = (32, 128, 256, 512)


def _step(cell, batch, hidden, path):
    params = cell.init(jax.random.key(0), I, hidden)
    x = jax.random.normal(jax.random.key(1), (batch, T, I))

    def loss(p, x):
        return jnp.sum(unroll(cell, p, x, weight_gradients=path)[1][:, -1] ** 2)

    step = jax.jit(jax.grad(loss))
    return lambda: jax.block_until_ready(step(params, x))


def runner_seconds(cell: str, path: str, steps: int, seeds: int) -> float:
    from rnn_jax import SequenceModel, tasks
    from rnn_jax.optimizer import Optax
    from rnn_jax.runner import run
    from rnn_jax.training import TrainConfig

    model = SequenceModel(cell=cell, hidden_size=32, output_size=1, loop=Options(weight_gradients=path))
    cfg = TrainConfig(model=model, task=tasks.get("adding", seq_len=T), optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.003)),
                      steps=steps, batch_size=32, eval_every=100)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        run(cfg, seeds=seeds, run_dir=run_dir, progress=False, diagnose_at=[])
        return time.perf_counter() - start


def runner_main(args) -> None:
    steps, seeds, repeats = (100, 2, 1) if args.quick else (500, 8, 2)
    records = []
    for cell in ("lstm", "gru", "rnn"):
        for _ in range(repeats):
            for path in ("per_step", "one_matmul"):
                records.append({"cell": cell, "H": 32, "seeds": seeds, "steps": steps, "weight_gradients": path,
                                "runner_s": runner_seconds(cell, path, steps, seeds)})
                print(f"{cell} {path}: {records[-1]['runner_s']:.1f} s", flush=True)
    _harness.finish("weight_gradients", args, records, ["cell", "H", "seeds", "steps", "weight_gradients", "runner_s"])


def main() -> None:
    args = _harness.parse(__doc__, lambda parser: parser.add_argument(
        "--runner", action="store_true", help="time the runner at h = 32 with each path instead of the grid"))
    if args.runner:
        return runner_main(args)
    repeats = args.repeats or (3 if args.quick else 7)
    grid = [(32, 128)] if args.quick else [(b, h) for b in BATCHES for h in HIDDEN]
    records = []
    for name in ("lstm", "gru", "rnn"):
        cell = cells.get(name)
        for batch, hidden in grid:
            times = _harness.time_alternating(
                {path: _step(cell, batch, hidden, path) for path in ("per_step", "one_matmul")}, repeats)
            records.append({"cell": name, "T": T, "B": batch, "I": I, "H": hidden, "per_step_ms": times["per_step"],
                            "one_matmul_ms": times["one_matmul"], "ratio": times["one_matmul"] / times["per_step"],
                            "auto": choose_weight_gradients(cell, hidden, batch).value})
            print(f"{name} B={batch} H={hidden}: {records[-1]['ratio']:.2f}", flush=True)
    _harness.finish("weight_gradients", args, records,
                    ["cell", "B", "H", "per_step_ms", "one_matmul_ms", "ratio", "auto"])


if __name__ == "__main__":
    main()

"""16 seeds of a small adding-problem run (B=32, T=100, 200 steps) through the runner (one
program for all seeds) against the same 16 runs one after another with the same code.

    python -m benchmarks.seeds [--quick] [--json PATH]
"""

from __future__ import annotations

import time

import jax

from benchmarks import _harness
from rnn_jax import tasks
from rnn_jax.optim import OptimConfig
from rnn_jax.runner import run
from rnn_jax.train import TrainConfig, make_train, model_for


def main() -> None:
    args = _harness.parse(__doc__)
    sizes = (16, 64) if args.quick else (16, 64, 128)
    seeds, steps = (8, 50) if args.quick else (16, 200)
    task = tasks.get("adding", seq_len=100)
    records = []
    for hidden in sizes:
        cfg = TrainConfig(model=model_for(task, "lstm", hidden), task=task, steps=steps, eval_every=steps,
                          batch_size=32, optim=OptimConfig("adam", 1e-3))
        start = time.perf_counter()
        run(cfg, seeds=seeds, progress=False, diagnose_at=[])
        runner_s = time.perf_counter() - start
        start = time.perf_counter()
        train = jax.jit(make_train(cfg))
        for seed in range(seeds):
            jax.block_until_ready(train(jax.random.key(seed)))
        sequential_s = time.perf_counter() - start
        records.append({"H": hidden, "seeds": seeds, "steps": steps, "runner_s": runner_s,
                        "sequential_s": sequential_s, "speedup": sequential_s / runner_s})
        print(f"H={hidden}: runner {runner_s:.1f} s, sequential {sequential_s:.1f} s", flush=True)
    _harness.finish("seeds", args, records, ["H", "seeds", "steps", "runner_s", "sequential_s", "speedup"])


if __name__ == "__main__":
    main()

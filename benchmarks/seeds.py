"""16 seeds of a small adding-problem run (B=32, T=100, 200 steps by default) through the
runner (one program for all seeds) against the same 16 runs one after another with the
same code, compilation included.

    python -m benchmarks.seeds [--quick] [--json PATH] [--steps 1000] [--warm]

``--warm`` measures each contender a second time with a warm persistent compilation cache
(filled by the first, cold, measurement in a fresh temporary directory), so the table has
both: with the cache, a rerun compiles nothing new and only traces.
"""

from __future__ import annotations

import tempfile
import time

import jax

from benchmarks import _harness
from rnn_jax import tasks
from rnn_jax.optimizer import Optax
from rnn_jax.runner import run
from rnn_jax.training import TrainConfig, make_train, model_for


def _options(parser) -> None:
    parser.add_argument("--steps", type=int, default=None, help="training steps per seed (default 200, quick 50)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="hidden sizes (default 16 64 128)")
    parser.add_argument("--warm", action="store_true", help="also measure with a warm persistent compilation cache")


def measure(cfg: TrainConfig, seeds: int) -> tuple[float, float]:
    """Wall seconds of the runner and of the sequential loop, each compiling what it runs.
    JAX's in-memory caches are cleared first (the runner would otherwise reuse the programs
    of its previous run of the same config), so a warm measurement reads the persistent
    cache, as a new process would."""
    jax.clear_caches()
    start = time.perf_counter()
    run(cfg, seeds=seeds, progress=False, diagnose_at=[])
    runner_s = time.perf_counter() - start
    jax.clear_caches()
    start = time.perf_counter()
    train = jax.jit(make_train(cfg))
    for seed in range(seeds):
        jax.block_until_ready(train(jax.random.key(seed)))
    return runner_s, time.perf_counter() - start


def main() -> None:
    args = _harness.parse(__doc__, _options)
    sizes = args.sizes or ((16, 64) if args.quick else (16, 64, 128))
    seeds = 8 if args.quick else 16
    steps = args.steps or (50 if args.quick else 200)
    task = tasks.get("adding", seq_len=100)
    records = []
    with tempfile.TemporaryDirectory() as cache:
        if args.warm:  # one fresh cache for the process: each program's first measurement fills it
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        for hidden in sizes:
            cfg = TrainConfig(model=model_for(task, "lstm", hidden), task=task, steps=steps, eval_every=steps,
                              batch_size=32, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.001)))
            for state in ("cold", "warm") if args.warm else ("off",):
                runner_s, sequential_s = measure(cfg, seeds)
                records.append({"H": hidden, "seeds": seeds, "steps": steps, "cache": state, "runner_s": runner_s,
                                "sequential_s": sequential_s, "speedup": sequential_s / runner_s})
                print(f"H={hidden} ({state} cache): runner {runner_s:.1f} s, sequential {sequential_s:.1f} s, "
                      f"{sequential_s / runner_s:.2f}x", flush=True)
    _harness.finish("seeds", args, records, ["H", "seeds", "steps", "cache", "runner_s", "sequential_s", "speedup"])


if __name__ == "__main__":
    main()

"""How the runner should spread 16 seeds over this machine: the same 16 adding-problem runs
(LSTM, B=32, T=100) trained one after another (sequential), all at once (``vmap``), and in
groups of 1, 2 or 4 members per compiled call, one call per core at a time
(``members_per_call``, :class:`rnn_jax.runner.MemberPrograms`, exactly what the runner
runs). With several devices only ``vmap`` is measured, the member axis sharded over them.
Compile time is excluded (second call).

    python -m benchmarks.strategies [--quick] [--json PATH]
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python -m benchmarks.strategies
"""

from __future__ import annotations

import time

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from benchmarks import _harness
from rnn_jax import tasks
from rnn_jax.optimizer import Optax
from rnn_jax.runner import MemberPrograms
from rnn_jax.training import TrainConfig, make_train, model_for

SEEDS = 16


def _seconds(fn) -> float:
    jax.block_until_ready(fn())  # compile
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def main() -> None:
    args = _harness.parse(__doc__)
    sizes, steps = ((16,), 50) if args.quick else ((16, 32, 64), 200)
    task = tasks.get("adding", seq_len=100)
    devices = jax.devices()
    sharding = NamedSharding(Mesh(np.asarray(devices), ("members",)), PartitionSpec("members"))
    strategies = {"vmap": None} if len(devices) > 1 else {"vmap": None, "groups1": 1, "groups2": 2, "groups4": 4}
    records = []
    for hidden in sizes:
        cfg = TrainConfig(model=model_for(task, "lstm", hidden), task=task, steps=steps, eval_every=steps,
                          batch_size=32, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.001)))
        trainer = make_train(cfg)
        one = jax.jit(trainer)
        seeds = np.arange(SEEDS, dtype=np.uint32)
        sequential = _seconds(lambda: [one(jax.random.key(int(s))) for s in seeds])
        placed = jax.device_put(seeds, sharding)
        results = {"sequential": sequential}
        for name, per_call in strategies.items():
            with MemberPrograms(SEEDS, per_call, sharding) as over:
                run = over(lambda s: trainer(jax.random.key(s)))
                results[name] = _seconds(lambda: run(placed))
        for name, seconds in results.items():
            records.append({"H": hidden, "devices": len(devices), "strategy": name, "seconds": seconds,
                            "vs_sequential": sequential / seconds})
            print(f"H={hidden} devices={len(devices)} {name}: {seconds:.2f} s", flush=True)
    _harness.finish("strategies", args, records, ["H", "devices", "strategy", "seconds", "vs_sequential"])


if __name__ == "__main__":
    main()

"""LSTM (B=32, H=128) on long sequences: step time and XLA's planned peak memory with and
without remat at T in {1000, 10000}, and the time to the first compiled step at T=100
against T=10000 (a scan compiles once whatever T).

    python -m benchmarks.long_sequences [--quick] [--json PATH]
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from benchmarks import _harness
from rnn_jax import cells, unroll

B, H, I = 32, 128, 2


def step_fn(remat: bool):
    cell = cells.get("lstm")

    def loss(p, x):
        return jnp.sum(unroll(cell, p, x, remat=remat)[1][:, -1] ** 2)

    return cell, jax.jit(jax.grad(loss))


def main() -> None:
    args = _harness.parse(__doc__)
    repeats = args.repeats or (2 if args.quick else 3)
    lengths = (1000, 3000) if args.quick else (1000, 10000)
    records = []
    for T in (100, *lengths):
        for remat in (False, True):
            cell, grad = step_fn(remat)
            params = cell.init(jax.random.key(0), I, H)
            x = jax.random.normal(jax.random.key(1), (B, T, I))
            start = time.perf_counter()
            compiled = grad.lower(params, x).compile()
            compile_s = time.perf_counter() - start
            memory = compiled.memory_analysis()
            peak = memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes
            times = _harness.time_alternating({"step": lambda: jax.block_until_ready(compiled(params, x))}, repeats, 1)
            records.append({"T": T, "remat": remat, "step_ms": times["step"], "peak_bytes": int(peak),
                            "compile_s": compile_s})
            print(f"T={T} remat={remat}: {times['step']:.0f} ms, peak {peak / 2**20:.1f} MiB", flush=True)
    _harness.finish("long_sequences", args, records, ["T", "remat", "step_ms", "peak_bytes", "compile_s"])


if __name__ == "__main__":
    main()

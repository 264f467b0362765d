"""This machine's matmul throughput (a large float32 jnp.dot) and the throughput our LSTM
training step achieves at (T, B, I, H) = (200, 128, 64, 256).

    python -m benchmarks.gemm_floor [--quick] [--json PATH]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import _harness
from benchmarks.cells import ours


def main() -> None:
    args = _harness.parse(__doc__)
    repeats = args.repeats or (3 if args.quick else 7)
    n = 1024 if args.quick else 2048
    a = jax.random.normal(jax.random.key(0), (n, n))
    b = jax.random.normal(jax.random.key(1), (n, n))
    dot = jax.jit(jnp.dot)
    T, B, I, H = (50, 128, 64, 256) if args.quick else (200, 128, 64, 256)
    times = _harness.time_alternating(
        {"dot": lambda: jax.block_until_ready(dot(a, b)), "lstm": ours("lstm", T, B, I, H)}, repeats)
    peak = 2 * n**3 / (times["dot"] * 1e-3) / 1e9
    # forward: input projection + recurrent matmul per step; backward: twice the forward matmuls
    forward = T * (2 * B * I * 4 * H + 2 * B * H * 4 * H)
    lstm = 3 * forward / (times["lstm"] * 1e-3) / 1e9
    records = [{"n": n, "T": T, "B": B, "I": I, "H": H, "dot_ms": times["dot"], "lstm_ms": times["lstm"],
                "peak_gflops": peak, "lstm_gflops": lstm, "fraction_of_peak": lstm / peak}]
    _harness.finish("gemm_floor", args, records, ["n", "T", "B", "I", "H", "dot_ms", "lstm_ms", "peak_gflops",
                                                  "lstm_gflops", "fraction_of_peak"])


if __name__ == "__main__":
    main()

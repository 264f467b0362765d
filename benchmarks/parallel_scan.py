"""Sequential (``lax.scan``) against parallel (``lax.associative_scan``) unrolling: the step time
(forward + backward) of ``lru``, ``mingru`` and ``minlstm`` at T in {512, 4096}, B = 32,
H = 128, with our sequential GRU as the reference. Also the lengths in between, which place
``rnn_jax.unroll.PARALLEL_FROM_STEPS``, the shortest sequence ``mode="auto"`` runs in parallel.

    python -m benchmarks.parallel_scan [--quick] [--json PATH]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import _harness
from rnn_jax import cells, unroll

B, H, I = 32, 128, 2
LINEAR = ("lru", "mingru", "minlstm")


def grad_fn(cell, mode: str):
    def loss(params, xs):
        return jnp.mean(unroll(cell, params, xs, mode=mode)[1] ** 2)

    return jax.jit(jax.grad(loss))


def main() -> None:
    args = _harness.parse(__doc__)
    repeats = args.repeats or (3 if args.quick else 7)
    lengths = (64, 512) if args.quick else (64, 128, 256, 512, 1024, 4096)
    records = []
    for T in lengths:
        xs = jax.random.normal(jax.random.key(1), (B, T, I))
        contenders, labels = {}, {}
        for name in (*LINEAR, "gru"):
            cell = cells.get(name)
            params = cell.init(jax.random.key(0), I, H)
            for mode in ("sequential", "parallel") if cell.linear_recurrence is not None else ("sequential",):
                step = grad_fn(cell, mode)
                contenders[f"{name}/{mode}"] = lambda step=step, params=params: jax.block_until_ready(step(params, xs))
                labels[f"{name}/{mode}"] = (name, mode)
        times = _harness.time_alternating(contenders, repeats, warmup=1)
        for key, ms in times.items():
            name, mode = labels[key]
            records.append({"cell": name, "T": T, "mode": mode, "step_ms": ms})
        summary = ", ".join(f"{k} {v:.1f}" for k, v in times.items())
        print(f"T={T}: {summary} ms", flush=True)
    _harness.finish("parallel_scan", args, records, ["cell", "T", "mode", "step_ms"])


if __name__ == "__main__":
    main()

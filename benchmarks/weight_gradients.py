"""The two weight-gradient paths of ``unroll`` over a grid of shapes: one training step
(forward + backward, loss on the last output) with ``weight_gradients="per_step"`` (autodiff
of the scan) and ``"one_matmul"`` (custom VJP), in one process, alternating. The ratio
``one_matmul / per_step`` is what ``rnn_jax.weight_gradients.choose_weight_gradients``'s rule
is read from; the ``auto`` column says what the rule picks.

    python -m benchmarks.weight_gradients [--quick] [--json PATH]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import _harness
from rnn_jax import cells, unroll
from rnn_jax.weight_gradients import choose_weight_gradients

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


def main() -> None:
    args = _harness.parse(__doc__)
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

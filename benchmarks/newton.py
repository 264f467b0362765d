"""Sequential (``lax.scan``) against Newton's method over the whole trajectory
(``mode="newton"``, each method) for untrained rnn, lstm and gru: the forward time and the
Newton iterations it took, at T from 100 to 10,000 (B = 16, I = 2, H = 32; DEER's benchmark is a GRU at B = 16, I = 2, T = 10,000).
Forwards only: the claim is about evaluating a sequence; the backward pass is one more
linear recurrence of the same kind.

Nothing here assumes a CPU: on a GPU or TPU the same command measures the speed claim there.

    python -m benchmarks.newton [--quick] [--json PATH]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import _harness
from rnn_jax import cells, unroll
from rnn_jax.unroll import Newton
from rnn_jax.unroll.newton import solve

B, H, I = 16, 32, 2
METHODS = ("full", "diagonal", "quasi_elk")


def measure(name: str, T: int, repeats: int, methods=METHODS, batch: int = B, hidden: int = H) -> list[dict]:
    """Forward times of ``unroll`` sequential and of each Newton ``methods`` for an untrained
    ``name`` cell at length ``T``: one record per method, with its iterations."""
    xs = jax.random.normal(jax.random.key(1), (batch, T, I))
    cell = cells.get(name)
    params = cell.init(jax.random.key(0), I, hidden)
    contenders, iterations = {}, {}
    forward = jax.jit(lambda p, x: unroll(cell, p, x, mode="sequential")[1])
    contenders["sequential"] = lambda: jax.block_until_ready(forward(params, xs))
    iterations["sequential"] = 1
    for method in methods:
        newton = Newton(method)

        def run(p, x, newton=newton):
            carry = cell.initial_carry(p, (x.shape[0],))
            _, hs, info, _ = solve(cell, p, jnp.moveaxis(x, 1, 0), carry, newton=newton)
            return hs, info.iterations

        compiled = jax.jit(run)
        iterations[method] = int(compiled(params, xs)[1])
        contenders[method] = lambda f=compiled: jax.block_until_ready(f(params, xs))
    times = _harness.time_alternating(contenders, repeats, warmup=1)
    print(f"T={T} {name}: " + ", ".join(f"{k} {v:.1f} ms ({iterations[k]} it)" for k, v in times.items()), flush=True)
    return [{"cell": name, "T": T, "B": batch, "H": hidden, "mode": key, "forward_ms": ms,
             "vs_sequential": ms / times["sequential"], "iterations": iterations[key]} for key, ms in times.items()]


def main() -> None:
    args = _harness.parse(__doc__)
    repeats = args.repeats or (3 if args.quick else 5)
    lengths = (100, 300) if args.quick else (100, 1000, 10_000)
    names = ("gru",) if args.quick else ("rnn", "lstm", "gru")
    records = [record for T in lengths for name in names for record in measure(name, T, repeats)]
    _harness.finish("newton", args, records, ["cell", "T", "mode", "forward_ms", "vs_sequential", "iterations"])


if __name__ == "__main__":
    main()

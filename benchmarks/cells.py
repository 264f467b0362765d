"""One training step (forward + backward, loss on the last output, batch-major inputs) of
our lstm / gru / rnn against torch.nn.LSTM/GRU/RNN (2 threads) and flax.linen.RNN with the
matching Flax cell, at the same shapes, in one process.

    python -m benchmarks.cells [--quick] [--json PATH]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _harness
from rnn_jax import cells, unroll

SHAPES = [(100, 32, 2, 128), (1000, 32, 2, 128), (200, 128, 64, 256)]  # (T, B, I, H)


def ours_program(cell_name, T, B, I, H):
    """Our jitted training step and its arguments."""
    cell = cells.get(cell_name)
    params = cell.init(jax.random.key(0), I, H)
    x = jax.random.normal(jax.random.key(1), (B, T, I))

    def loss(p, x):
        return jnp.sum(unroll(cell, p, x)[1][:, -1] ** 2)

    return jax.jit(jax.grad(loss)), (params, x)


def ours(cell_name, T, B, I, H):
    step, args = ours_program(cell_name, T, B, I, H)
    return lambda: jax.block_until_ready(step(*args))


def flax(cell_name, T, B, I, H):
    from flax import linen

    make = {"lstm": linen.OptimizedLSTMCell, "gru": linen.GRUCell, "rnn": linen.SimpleCell}[cell_name]
    layer = linen.RNN(make(H))
    x = jax.random.normal(jax.random.key(1), (B, T, I))
    variables = layer.init(jax.random.key(0), x)

    def loss(v, x):
        return jnp.sum(layer.apply(v, x)[:, -1] ** 2)

    step = jax.jit(jax.grad(loss))
    return lambda: jax.block_until_ready(step(variables, x))


def torch_step(cell_name, T, B, I, H):
    import torch

    torch.set_num_threads(2)
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell_name](I, H, batch_first=True)
    x = torch.randn(B, T, I)

    def step():
        module.zero_grad(set_to_none=True)
        out, _ = module(x)
        (out[:, -1] ** 2).sum().backward()

    return step


def measure(cell_name: str, shape: tuple[int, int, int, int], repeats: int, extra=None) -> dict:
    """Ours against Flax (and PyTorch when installed, and any ``extra`` contenders: name ->
    step) at ``shape`` = (T, B, I, H): one record of median milliseconds and ratios."""
    T, B, I, H = shape
    contenders = {"ours": ours(cell_name, *shape), "flax": flax(cell_name, *shape), **(extra or {})}
    try:
        import torch  # noqa: F401
        contenders["torch"] = torch_step(cell_name, *shape)
    except ImportError:
        pass
    times = _harness.time_alternating(contenders, repeats)
    record = {"cell": cell_name, "T": T, "B": B, "I": I, "H": H,
              **{f"{name}_ms": ms for name, ms in times.items()}, "torch_ms": times.get("torch", math.nan)}
    for name in times:
        if name != "ours":
            record[f"ours/{name}"] = times["ours"] / times[name]
    print(f"{cell_name} T={T} B={B} I={I} H={H}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in times.items()), flush=True)
    return record


def main() -> None:
    args = _harness.parse(__doc__)
    repeats = args.repeats or (3 if args.quick else 7)
    shapes = SHAPES[:1] if args.quick else SHAPES
    records = [measure(cell_name, shape, repeats) for cell_name in ("lstm", "gru", "rnn") for shape in shapes]
    for cell_name in ("lstm", "gru", "rnn"):
        rows = [r for r in records if r["cell"] == cell_name]
        gm = lambda key: float(np.exp(np.mean(np.log([r.get(key, math.nan) for r in rows]))))  # noqa: E731
        records.append({"cell": f"{cell_name} geomean", "ours/torch": gm("ours/torch"), "ours/flax": gm("ours/flax")})
    _harness.finish("cells", args, records, ["cell", "T", "B", "I", "H", "ours_ms", "torch_ms", "flax_ms", "ours/torch", "ours/flax"])


if __name__ == "__main__":
    main()

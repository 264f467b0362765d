"""What fewer instructions in the loop body buy: variants of the LSTM step, each timed for one
training step (forward + backward, loss on the last output) with both of ``unroll``'s
weight-gradient paths, beside the number of instructions XLA leaves in the forward and the
backward loop bodies (jax-ml/jax#40150: on XLA:CPU's thunk runtime the cost of an iteration
grows with the instructions in the body).

Variants (same values up to float rounding; weights in the variant's gate order):
  lstm           ours: carry (h, c), four gate slices, three sigmoids and a tanh
  one_carry      carry one [*b, 2h] array instead of (h, c)
  contiguous     gate order i, f, o, g: one sigmoid on one contiguous [*b, 3h] slice
  one_sigmoid    tanh(x) = 2 sigmoid(2x) - 1: one sigmoid on all [*b, 4h], then the slices

    python -m benchmarks.loop_body [--quick] [--json PATH]
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp

from benchmarks import _harness
from rnn_jax import cells, unroll
from rnn_jax.cells import base

SHAPES = [(100, 32, 2, 128), (1000, 32, 2, 128), (200, 128, 64, 256)]  # (T, B, I, H)


def _one_carry_step(params, carry, x_t, r_t):
    del params
    _, c = jnp.split(carry, 2, axis=-1)
    i, f, g, o = jnp.split(x_t + r_t, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jnp.concatenate([jax.nn.sigmoid(o) * jnp.tanh(c), c], -1), jax.nn.sigmoid(o) * jnp.tanh(c)


def _contiguous_step(params, carry, x_t, r_t):
    del params
    h, c = carry
    z = x_t + r_t
    size = h.shape[-1]
    i, f, o = jnp.split(jax.nn.sigmoid(z[..., : 3 * size]), 3, axis=-1)
    c = f * c + i * jnp.tanh(z[..., 3 * size :])
    h = o * jnp.tanh(c)
    return (h, c), h


def _one_sigmoid_step(params, carry, x_t, r_t):
    del params
    h, c = carry
    z = x_t + r_t
    size = h.shape[-1]
    scale = jnp.concatenate([jnp.ones(2 * size, z.dtype), jnp.full(size, 2.0, z.dtype), jnp.ones(size, z.dtype)])
    i, f, g, o = jnp.split(jax.nn.sigmoid(z * scale), 4, axis=-1)
    c = f * c + i * (2 * g - 1)
    h = o * jnp.tanh(c)
    return (h, c), h


def _with_split(cell: base.Cell, after_matmul, hidden) -> base.Cell:
    """``cell`` with the step ``after_matmul(p, c, x, linear(hidden(c), w_hh))`` and its split."""
    def step(params, carry, x_t):
        return after_matmul(params, carry, x_t, base.linear(hidden(carry), params["w_hh"]))

    return cell._replace(step=step, hidden=hidden, split=base.SplitStep(after_matmul, num_gates=4))


def variants() -> dict[str, base.Cell]:
    lstm = cells.get("lstm")

    def first_half(carry):
        return jnp.split(carry, 2, axis=-1)[0]

    one_carry = lstm._replace(initial_carry=lambda p, b: jnp.zeros((*b, 2 * base.hidden_size(p)), p["w_hh"].dtype))
    return {
        "lstm": lstm,
        "one_carry": _with_split(one_carry, _one_carry_step, first_half),
        "contiguous": _with_split(lstm, _contiguous_step, lstm.hidden),
        "one_sigmoid": _with_split(lstm, _one_sigmoid_step, lstm.hidden),
    }


def _loop_instructions(compiled_text: str) -> list[int]:
    """Instructions in each while body, without parameters, tuple plumbing and constants."""
    counts = []
    for match in re.finditer(r"while\(.*?body=%?([\w.\-]+)", compiled_text):
        body = re.search(r"\n%?" + re.escape(match.group(1)) + r" .*?\n(.*?)\n\}", compiled_text, re.DOTALL).group(1)
        counts.append(sum(1 for line in body.split("\n") if line.strip() and not re.search(
            r"get-tuple-element\(|constant\(|parameter\(|ROOT |tuple\(", line)))
    return counts


def _step(cell, T, B, I, H, path):
    params = cell.init(jax.random.key(0), I, H)
    x = jax.random.normal(jax.random.key(1), (B, T, I))

    def loss(p, x):
        return jnp.sum(unroll(cell, p, x, weight_gradients=path)[1][:, -1] ** 2)

    step = jax.jit(jax.grad(loss))
    counts = _loop_instructions(step.lower(params, x).compile().as_text())
    return (lambda: jax.block_until_ready(step(params, x))), counts


def main() -> None:
    args = _harness.parse(__doc__)
    repeats = args.repeats or (3 if args.quick else 7)
    shapes = SHAPES[:1] if args.quick else SHAPES
    records = []
    for T, B, I, H in shapes:
        contenders, counts = {}, {}
        for name, cell in variants().items():
            for path in ("per_step", "one_matmul"):
                contenders[name, path], counts[name, path] = _step(cell, T, B, I, H, path)
        times = _harness.time_alternating(contenders, repeats)
        base_ms = times["lstm", "per_step"]
        for (name, path), ms in times.items():
            forward, backward = (counts[name, path] + [0, 0])[:2]
            records.append({"variant": name, "weight_gradients": path, "T": T, "B": B, "I": I, "H": H,
                            "step_ms": ms, "vs_lstm_per_step": ms / base_ms,
                            "forward_body": forward, "backward_body": backward})
        print(f"T={T} B={B} I={I} H={H} done", flush=True)
    _harness.finish("loop_body", args, records, ["variant", "weight_gradients", "T", "B", "H", "step_ms",
                                                 "vs_lstm_per_step", "forward_body", "backward_body"])


if __name__ == "__main__":
    main()

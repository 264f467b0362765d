"""Newton iterations against predictability (Gonzalez et al. 2025, Fig. 2, at CPU scale).

The mean-field RNN of their code (lindermanlab/predictability_enables_parallelization,
``src/examples/dmf_rnn.py`` and ``experiments/fig2.py``): ``x_{t+1} = W tanh(x_t) + u_t``
with ``W ~ N(0, g²/D)`` (zero diagonal), inputs ``u_t = A sin(ω t + φ)`` (``A ~ U(0, 0.2)``,
``ω ~ U(0.5, 3)``, ``φ ~ U(0, 2π)`` per unit), ``x_0`` and the initial guess ``~ U(-1, 1)``,
float64. For each gain ``g`` and length ``T`` it counts the iterations of
``unroll(..., mode="newton")`` (DEER, the full Jacobian) to convergence and estimates the
largest Lyapunov exponent (:func:`rnn_jax.analysis.dynamics.lyapunov_spectrum`) along the
same inputs. The cell is written here by hand (:data:`MEAN_FIELD_RNN`): any ``Cell`` runs
through Newton's method.

    python -m experiments.newton_iterations
    python -m experiments.newton_iterations --quick
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from experiments import _common, _measurements
from rnn_jax.analysis import dynamics, plots
from rnn_jax.cells.base import Cell, Hooks
from rnn_jax.unroll import Newton
from rnn_jax.unroll.newton import solve

def init(key, input_size: int, hidden_size: int, gain: float = 1.0):
    """``W ~ N(0, g²/D)`` with a zero diagonal (no self-coupling, as their tanh setup)."""
    del input_size  # the input is u itself, of the state's size
    w = jax.random.normal(key, (hidden_size, hidden_size), jnp.float64) * gain / np.sqrt(hidden_size)
    return {"w": w * (1 - jnp.eye(hidden_size))}


def _step(params, x, u):
    x = jnp.tanh(x) @ params["w"].T + u
    return x, x


MEAN_FIELD_RNN = Cell(
    name="mean_field_rnn", init=init,
    initial_carry=lambda params, batch_shape: jnp.zeros((*batch_shape, params["w"].shape[0]), jnp.float64),
    project_inputs=lambda params, xs: xs, step=_step, hooks=Hooks(recurrent_matrix=lambda params: params["w"]))
"""``x_{t+1} = W tanh(x_t) + u_t`` as a Cell written by hand: the carry is ``x``, the input ``u``."""


@functools.partial(jax.jit, static_argnames="tol")
def _iterations(params, inputs, x0, guess, *, tol: float):
    """DEER on one network: its :class:`~rnn_jax.unroll.NewtonInfo`."""
    return solve(MEAN_FIELD_RNN, params, inputs[:, None], x0[None], guess=guess[:, None], newton=Newton(tol=tol))[2]


@jax.jit
def _largest_exponent(params, inputs, x0):
    return dynamics.lyapunov_spectrum(MEAN_FIELD_RNN, params, inputs[None], num=1, state_warmup=100,
                                      frame_warmup=100, initial_carry=x0[None])[0, 0]


@dataclasses.dataclass(frozen=True)
class Config(_measurements.Measuring):
    """Newton (DEER) iterations to converge, and the largest Lyapunov exponent, against the
    gain g of a random tanh RNN, for several sequence lengths T (Gonzalez et al. 2025, Fig. 2)."""

    gains: tuple[float, ...] = tuple(np.round(np.linspace(0.5, 2.0, 7), 3))
    """Gains g of W ~ N(0, g²/D)."""
    lengths: tuple[int, ...] = (10, 100, 1000)
    """Sequence lengths T."""
    dim: int = 32
    """D, the state's size (theirs: 100)."""
    tol: float = 1e-10
    """Newton stops when no state changes by more than this."""
    lyapunov_steps: int = 1000
    """Steps the largest exponent is averaged over, after 100 + 100 warm-up steps."""
    run_dir: str = "runs/newton_iterations"


def _problem(key, dim: int, steps: int):
    """Their inputs, initial state and guess for one network."""
    k_a, k_w, k_p, k_x, k_g = jax.random.split(key, 5)
    amplitude = jax.random.uniform(k_a, (dim,), jnp.float64, 0.0, 0.2)
    omega = jax.random.uniform(k_w, (dim,), jnp.float64, 0.5, 3.0)
    phase = jax.random.uniform(k_p, (dim,), jnp.float64, 0.0, 2 * np.pi)
    t = jnp.arange(steps, dtype=jnp.float64)[:, None]
    inputs = amplitude[None] * jnp.sin(omega[None] * t + phase[None])  # [T, D]
    x0 = jax.random.uniform(k_x, (dim,), jnp.float64, -1.0, 1.0)
    guess = jax.random.uniform(k_g, (steps, dim), jnp.float64, -1.0, 1.0)
    return inputs, x0, guess


def measure(cfg: Config, gain: float, seed: int) -> list[dict]:
    """One network at gain ``gain``: a row per length, with the iterations and the exponent."""
    key_w, key_problem = jax.random.split(jax.random.key(seed))
    params = init(key_w, cfg.dim, cfg.dim, gain)
    longest = max(max(cfg.lengths), cfg.lyapunov_steps + 200)
    inputs, x0, guess = _problem(key_problem, cfg.dim, longest)
    exponent = float(_largest_exponent(params, inputs[: cfg.lyapunov_steps + 200], x0))
    rows = []
    for steps in cfg.lengths:
        info = _iterations(params, inputs[:steps], x0, guess[:steps], tol=cfg.tol)
        rows.append({"g": gain, "T": steps, "seed": seed, "iterations": int(info.iterations),
                     "converged": bool(info.converged), "residual": float(info.residual), "lyapunov": exponent})
    return rows


load = _measurements.load


def figure(frame: pd.DataFrame):
    fig, axes = plots._figure(ncols=2)
    for i, (steps, rows) in enumerate(frame.groupby("T")):
        mean = rows.groupby("g").iterations.mean()
        axes[0].plot(mean.index, mean.values, marker="o", color=plots.colour("T", i), label=f"T = {steps} (mean)")
        axes[0].scatter(rows.g, rows.iterations, s=6, color=plots.colour("T", i), alpha=0.4)
        axes[0].axhline(steps, color=plots.colour("T", i), linestyle=":", linewidth=0.8)  # T itself
    axes[0].set(xlabel="gain g", ylabel="Newton iterations to converge", yscale="log")
    axes[0].legend(fontsize=7)
    exponents = frame.drop_duplicates(["g", "seed"])
    mean = exponents.groupby("g").lyapunov.mean()
    axes[1].plot(mean.index, mean.values, marker="o", color="black", label="largest Lyapunov exponent")
    axes[1].scatter(exponents.g, exponents.lyapunov, s=6, color="black", alpha=0.4)
    axes[1].axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
    axes[1].set(xlabel="gain g", ylabel="largest Lyapunov exponent (per step)")
    fig.suptitle(r"$x_{t+1} = W \tanh(x_t) + u_t$, $W \sim N(0, g^2/D)$: DEER iterations (dotted: T) and "
                 "predictability; dots: networks", fontsize=8)
    return fig


def main(cfg: Config) -> pd.DataFrame:
    if cfg.quick:
        cfg = dataclasses.replace(cfg, gains=(0.5, 2.0), lengths=(10, 50), seeds=2, lyapunov_steps=200, quick=False)
    with jax.enable_x64(True):
        rows, start = [], time.perf_counter()
        for gain in cfg.gains:
            for seed in range(cfg.seeds):
                rows += measure(cfg, float(gain), seed)
                if cfg.progress:
                    print(f"g={gain:g} seed {seed}: " + ", ".join(f"T={r['T']} {r['iterations']} it" for r in rows[-len(cfg.lengths):])
                          + f", λ₁ = {rows[-1]['lyapunov']:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    frame = _measurements.write(rows, cfg.run_dir, figure, "iterations")
    print(frame.groupby(["g", "T"])[["iterations", "lyapunov"]].mean().unstack("T").round(3).to_string())
    print(f"\nresults: {os.path.abspath(cfg.run_dir)}")
    return frame


if __name__ == "__main__":
    _common.cli(main, Config)

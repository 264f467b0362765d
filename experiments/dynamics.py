"""Lyapunov spectra of the cells at initialisation: the edge of chaos (Engelken, Wolf &
Abbott 2023, with the mean-field theory of random tanh networks).

* The tanh RNN ``h_{t+1} = tanh(W h_t)`` (the ``rnn`` cell, its other weights zero, no
  input) with ``W ~ N(0, g²/N)``, started at ``h_0 ~ N(0, 1)``: its exponents against the
  gain ``g``. For large N the largest is ``log g < 0`` below ``g = 1`` (the state falls to
  the fixed point 0, where the Jacobian is W, of spectral radius about g) and above 0
  beyond it (chaos).
* The gated cells (``lstm``, ``gru``) at their default initialisation, driven by N(0, 1)
  inputs: their exponents, in the ordered phase (all below 0).
* The tanh RNN, LSTM and GRU trained on the adding problem (``experiments.vanishing_gradients``
  for ``adding_steps`` steps, into ``run_dir/adding``): the exponents the runner records at
  initialisation and after training, on the held-out sequences (figure ``trained_spectra``).

Each spectrum is :func:`rnn_jax.analysis.dynamics.lyapunov_spectrum` (the QR method) over
``lyapunov_steps`` steps after ``warmup`` steps for the state and as many for the frame.

    python -m experiments.dynamics
    python -m experiments.dynamics --quick
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
from rnn_jax import _checks, cells
from rnn_jax.analysis import dynamics, plots
from rnn_jax.io import results, rundir

TANH = "rnn"


@dataclasses.dataclass(frozen=True)
class Config(_measurements.Measuring):
    """Lyapunov spectra at initialisation: the tanh RNN against its gain g (the edge of chaos
    at g = 1), and the gated cells at their default initialisation."""

    gains: tuple[float, ...] = (0.5, 0.8, 1.0, 1.2, 1.5, 2.0)
    """Gains g of the tanh RNN's W ~ N(0, g²/N)."""
    gated: tuple[str, ...] = ("lstm", "gru")
    """Cells measured at their default initialisation, driven by N(0, 1) inputs."""
    hidden_size: int = 128
    """N, the hidden size."""
    input_size: int = 4
    """Inputs of the gated cells."""
    lyapunov_steps: int = 1000
    """Steps the exponents are averaged over."""
    warmup: int = 200
    """Steps for the state's transient, and as many for the frame's."""
    adding_steps: int = 1500
    """Steps of training on the adding problem (experiments.vanishing_gradients' setup) whose
    spectra at initialisation and at the end are drawn; 0: none."""
    run_dir: str = "runs/dynamics"


@functools.partial(jax.jit, static_argnames=("cell", "warmup"))
def _spectrum(params, xs, h0, *, cell: str, warmup: int):
    return dynamics.lyapunov_spectrum(cells.get(cell), params, xs, state_warmup=warmup, frame_warmup=warmup,
                                      initial_carry=h0)


def _tanh_network(key, size: int, gain: float):
    params = jax.tree.map(jnp.zeros_like, cells.get(TANH).init(key, 1, size))
    return {**params, "w_hh": gain * jax.random.normal(key, (size, size)) / np.sqrt(size)}


def measure(cfg: Config, cell: str, gain: float | None, seed: int) -> list[dict]:
    """One network's spectrum: a row per exponent ``i`` (0 the largest)."""
    k_w, k_x, k_h = jax.random.split(jax.random.key(seed), 3)
    steps = cfg.lyapunov_steps + 2 * cfg.warmup
    if cell == TANH:
        params, size = _tanh_network(k_w, cfg.hidden_size, gain), 1
        xs = jnp.zeros((1, steps, size))
        h0 = jax.random.normal(k_h, (1, cfg.hidden_size))
    else:
        params = cells.get(cell).init(k_w, cfg.input_size, cfg.hidden_size)
        xs = jax.random.normal(k_x, (1, steps, cfg.input_size))
        h0 = None
    carry = cells.get(cell).initial_carry(params, (1,)) if h0 is None else h0
    exponents = np.asarray(_spectrum(params, xs, carry, cell=cell, warmup=cfg.warmup))[0]
    return [{"cell": cell, "g": np.nan if gain is None else gain, "seed": seed, "i": i, "exponent": float(e)}
            for i, e in enumerate(exponents)]


load = _measurements.load


def figure(frame: pd.DataFrame):
    fig, axes = plots._figure(ncols=2)
    tanh = frame[frame.cell == TANH]
    largest = tanh[tanh.i == 0]
    mean = largest.groupby("g").exponent.mean()
    axes[0].plot(mean.index, mean.values, marker="o", color="black", label="tanh RNN, largest exponent (mean)")
    axes[0].scatter(largest.g, largest.exponent, s=6, color="black", alpha=0.4)
    theory = np.linspace(min(mean.index), 1.0, 50)
    axes[0].plot(theory, np.log(theory), color="grey", linestyle=":", label="log g (mean field, g < 1)")
    axes[0].axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
    axes[0].axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    axes[0].set(xlabel="gain g of W ~ N(0, g²/N)", ylabel="largest Lyapunov exponent (per step)")
    axes[0].legend(fontsize=7)
    from matplotlib import colormaps

    gains = sorted(tanh.g.unique())
    shade = colormaps["viridis"]
    curves = [(f"tanh RNN, g = {g:g}", tanh[tanh.g == g], shade(k / max(1, len(gains) - 1)), "-")
              for k, g in enumerate(gains)]
    curves += [(f"{plots.label(cell)} (default init)", frame[frame.cell == cell], plots.colour(cell, 0), "--")
               for cell in frame.cell.unique() if cell != TANH]
    for name, rows, colour, style in curves:
        spectrum = rows.groupby("i").exponent.mean()
        axes[1].plot((spectrum.index + 1) / len(spectrum), spectrum.values, label=name, color=colour, linestyle=style)
    axes[1].axhline(0.0, color="grey", linewidth=0.8)
    axes[1].set(xlabel="i / n (n: the state's size; the LSTM's is 2N)", ylabel="λ_i (mean over networks)")
    axes[1].legend(fontsize=6)
    fig.suptitle("Lyapunov exponents at initialisation (QR method); dots: single networks", fontsize=8)
    return fig


def trained(cfg: Config, *, quick: bool) -> results.Results:
    """The rnn, LSTM and GRU trained on the adding problem (experiments.vanishing_gradients),
    and their spectra at initialisation and after training (figure ``trained_spectra``)."""
    from experiments import vanishing_gradients

    adding = vanishing_gradients.Config(run_dir=os.path.join(cfg.run_dir, "adding"), seeds=cfg.seeds, quick=quick,
                                        steps=cfg.adding_steps, progress=cfg.progress, torch_init_cells=())
    res = vanishing_gradients.main(adding)
    plots.save(plots.lyapunov(res, title="Lyapunov exponents on the adding problem: initialisation and trained"),
               rundir.figures_dir(cfg.run_dir), "trained_spectra")
    return res


def main(cfg: Config) -> pd.DataFrame:
    quick = cfg.quick
    if cfg.quick:
        cfg = dataclasses.replace(cfg, gains=(0.5, 2.0), hidden_size=16, seeds=2, lyapunov_steps=100,
                                  warmup=20, quick=False)
    _checks.nonneg_int(cfg.adding_steps, "adding_steps")
    if not all(g > 0 for g in cfg.gains):
        raise ValueError(f"gains={cfg.gains!r}: each gain must be > 0")
    for cell in cfg.gated:
        cells.get(cell)  # an unknown name fails here, listing the registered ones
    rows, start = [], time.perf_counter()
    settings = [(TANH, float(g)) for g in cfg.gains] + [(cell, None) for cell in cfg.gated]
    for cell, gain in settings:
        for seed in range(cfg.seeds):
            spectrum = measure(cfg, cell, gain, seed)
            rows += spectrum
            if cfg.progress:
                print(f"{cell}{'' if gain is None else f' g={gain:g}'} seed {seed}: "
                      f"λ₁ = {spectrum[0]['exponent']:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    frame = _measurements.write(rows, cfg.run_dir, figure, "spectra")
    if cfg.adding_steps:
        trained(cfg, quick=quick)
    largest = frame[frame.i == 0].groupby(["cell", "g"], dropna=False).exponent.agg(["mean", "std", "min", "max"])
    print(largest.round(3).to_string())
    print(f"\nresults: {os.path.abspath(cfg.run_dir)}")
    return frame


if __name__ == "__main__":
    _common.cli(main, Config)

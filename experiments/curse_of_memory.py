"""The curse of memory (Zucchet & Orvieto 2024), part 1: the hidden state's sensitivity to
its own recurrence, measured by autodiff through ``unroll`` against the closed form.

A 1-D linear recurrence ``h_t = λ h_{t-1} + γ x_t``, driven by white unit-variance inputs
(ρ = 0), is our ``lru`` cell with one real mode (phase 0, ``B = 1``, ``D = 0``), whose
``λ = exp(-exp(ν))`` is the exp-exp parametrisation. As ``t → ∞``:

* ``plain`` (no γ): ``E[(dh/dλ)²] = (1 + λ²) / (1 - λ²)³``, which explodes as λ → 1;
* ``normalised`` (``γ = sqrt(1 - λ²)``, held fixed): ``(1 + λ²) / (1 - λ²)²``, still explodes;
* ``exp_exp`` (normalised, sensitivity to ν): ``λ² log²λ (1 + λ²) / (1 - λ²)²``, O(1) (→ 1/2).

Their notebook (NicolasZucchet/Vanishing-and-exploding-gradients-are-not-the-end-of-the-story,
``figures/1D-case.ipynb``) gives 264, 2.5e5, 2.5e8 (plain), 50, 5,000, 5e5 (normalised) and
~0.45, 0.495, 0.4995 (exp-exp) at λ = 0.9, 0.99, 0.999. Here each seed estimates the
expectation over ``batch`` sequences of ``seq_len`` steps, from ``h_0 = 0``; ``dh/dλ`` is
``dh/dν`` (forward-mode autodiff through ``unroll``) divided by ``dλ/dν = λ log λ``.

    python -m experiments.curse_of_memory
    python -m experiments.curse_of_memory --quick
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from experiments import _common, _measurements
from rnn_jax import cells, unroll
from rnn_jax.analysis import plots

VARIANTS = ("plain", "normalised", "exp_exp")
PUBLISHED = {"plain": (264, 2.5e5, 2.5e8), "normalised": (50, 5000, 5e5), "exp_exp": (0.45, 0.495, 0.4995)}
"""Zucchet & Orvieto's notebook values at λ = 0.9, 0.99, 0.999 (ρ = 0)."""


def closed_form(variant: str, lam: float) -> float:
    """The stationary ``E[(dh/dλ)²]`` (``E[(dh/dν)²]`` for ``exp_exp``) at ρ = 0."""
    plain = (1 + lam**2) / (1 - lam**2) ** 3
    if variant == "plain":
        return plain
    normalised = (1 - lam**2) * plain
    return normalised if variant == "normalised" else normalised * (lam * np.log(lam)) ** 2


def _params(cell, lam: float):
    params = cell.init(jax.random.key(0), 1, 2)
    params = {**params, "nu_log": jnp.log(-jnp.log(jnp.full((1,), lam, jnp.float32))),
              "theta_log": jnp.full((1,), -40.0), "w_ih": jnp.array([[1.0], [0.0], [0.0], [0.0]])}
    if "gamma_log" in params:
        params["gamma_log"] = jnp.full((1,), 0.5 * np.log(1 - lam**2), jnp.float32)
    return params


@functools.partial(jax.jit, static_argnames="normalise")
def _sensitivity(params, xs, *, normalise: bool):
    """``dh_T/dν`` for each sequence, forward mode through ``unroll``: ``[batch]``."""
    cell = cells.get("lru", normalize=normalise)

    def final_state(nu_log):
        final, _ = unroll(cell, {**params, "nu_log": nu_log}, xs)
        return final[:, 0]  # Re h_T

    return jax.jacfwd(final_state)(params["nu_log"])[:, 0]


@dataclasses.dataclass(frozen=True)
class Config(_measurements.Measuring):
    """The hidden state's sensitivity to its recurrence λ of a 1-D linear recurrence (our lru
    cell), against the closed form, with and without input normalisation and the exp-exp
    parametrisation (Zucchet & Orvieto 2024)."""

    lambdas: tuple[float, ...] = (0.9, 0.99, 0.999)
    """Values of λ."""
    batch: int = 2000
    """Sequences per estimate (its relative error is about sqrt(2 / batch))."""
    seq_len: int = 20_000
    """Sequence length: far beyond the memory 1 / (1 - λ²), so the state is stationary."""
    run_dir: str = "runs/curse_of_memory"


def measure(cfg: Config, variant: str, lam: float, seed: int) -> dict:
    normalise = variant != "plain"
    params = _params(cells.get("lru", normalize=normalise), lam)
    xs = jax.random.normal(jax.random.key(seed), (cfg.batch, cfg.seq_len, 1))
    d_nu = np.asarray(_sensitivity(params, xs, normalise=normalise), np.float64)
    per_lambda = 1.0 if variant == "exp_exp" else lam * np.log(lam)  # dλ/dν = λ log λ
    measured = float(np.mean((d_nu / per_lambda) ** 2))
    exact = closed_form(variant, lam)
    return {"variant": variant, "lam": lam, "seed": seed, "measured": measured, "closed_form": exact,
            "error": abs(measured / exact - 1.0)}


load = _measurements.load


def figure(frame: pd.DataFrame):
    fig, axes = plots._figure()
    ax = axes[0]
    for k, (variant, rows) in enumerate(frame.groupby("variant", sort=False)):
        colour = plots.OKABE_ITO[(1, 5, 3)[k % 3]]
        exact = rows.drop_duplicates("lam")
        ax.plot(1 - exact.lam, exact.closed_form, color=colour, linestyle=":", label=f"{variant}: closed form")
        ax.scatter(1 - rows.lam, rows.measured, color=colour, marker="o", s=12, label=f"{variant}: ours (seeds)")
        if variant in PUBLISHED:
            lams = [0.9, 0.99, 0.999]
            ax.scatter([1 - lam for lam in lams], PUBLISHED[variant], color=colour, marker="x", s=30,
                       label=f"{variant}: Zucchet & Orvieto")
    ax.set(xscale="log", yscale="log", xlabel="1 - λ (memory grows to the right)",
           ylabel="E[(dh/dλ)²]  (exp_exp: E[(dh/dν)²])")
    ax.invert_xaxis()
    ax.legend(fontsize=6)
    fig.suptitle("The curse of memory: h_t = λ h_{t-1} + γ x_t, white inputs", fontsize=8)
    return fig


def main(cfg: Config) -> pd.DataFrame:
    if cfg.quick:
        cfg = dataclasses.replace(cfg, lambdas=(0.9,), seeds=2, batch=200, seq_len=500, quick=False)
    if not all(0 < lam < 1 for lam in cfg.lambdas):
        raise ValueError(f"lambdas={cfg.lambdas!r}: each λ must be in (0, 1)")
    rows = []
    for variant in VARIANTS:
        for lam in cfg.lambdas:
            for seed in range(cfg.seeds):
                rows.append(measure(cfg, variant, float(lam), seed))
                if cfg.progress:
                    r = rows[-1]
                    print(f"{variant} λ={lam:g} seed {seed}: {r['measured']:.4g} (closed form {r['closed_form']:.4g})",
                          flush=True)
    frame = _measurements.write(rows, cfg.run_dir, figure, "sensitivity")
    print(frame.groupby(["variant", "lam"], sort=False)[["measured", "closed_form", "error"]].mean().to_string())
    print(f"\nresults: {os.path.abspath(cfg.run_dir)}")
    return frame


if __name__ == "__main__":
    _common.cli(main, Config)

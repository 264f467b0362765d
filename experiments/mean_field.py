"""The mean-field timescale of a random tanh RNN against its gradients and its trainability
(after Chen, Pennington & Schoenholz 2018).

A tanh RNN with ``W_hh ~ N(0, σ_w²/N)``, input weights ``N(0, 1/K)`` and no biases learns the
``first_input`` task (the sign of a ±1 at the first step, under N(0, 1) noise on K = 64 more
channels, so that every unit's input term has variance close to 1) at each length T; every σ_w is a point of one sweep (of ``recurrent_scale``),
so each T is one program. Mean-field theory (:mod:`rnn_jax.analysis.mean_field`, with the
noise's variance σ_x² = 1 entering the fixed point q*) predicts that ``‖∂L/∂h_t‖²`` is
multiplied by χ per step back, a timescale ``ξ = -1/log χ``, so the error of the first input
reaches the start of a length-T sequence only when T is within some multiple c of |ξ|.

Measured here, on the same networks:

* ``log_chi``: the per-step change of ``log ‖∂L/∂h_t‖²`` at initialisation (the runner's
  diagnostics at step 0 of the longest sequence, over ``fit_steps`` steps after skipping the
  ``skip`` last ones), against ``log χ`` predicted;
* ``trainable``: a final held-out accuracy of at least ``solved`` at length T;
* ``t_max``: per seed and σ_w, the longest T of the grid up to which every T was trainable;
  ``c = t_max / |ξ|`` and, per seed, ``c_spread``: the largest c over the smallest, over the
  σ_w whose ``t_max`` is inside the grid (a σ_w trainable at every T, or at none, only
  bounds c).

    python -m experiments.mean_field
    python -m experiments.mean_field --quick
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from experiments import _common, _measurements
from rnn_jax import tasks
from rnn_jax.analysis import diagnostics, mean_field, plots
from rnn_jax.io import results, rundir

NOISE = 1.0
"""The noise channels' standard deviation; with N(0, 1/K) input weights the input term's variance σ_x² = 1."""
NOISE_CHANNELS = 64
"""K. With one channel each unit's input variance is its own weight squared (a spread the
mean field does not have: log χ measured 0.2-0.3 above the prediction at σ_w ≤ 1.25)."""


@dataclasses.dataclass(frozen=True)
class Config(_common.Training):
    """Mean-field timescale ξ of a random tanh RNN against the measured decay of its
    gradients at initialisation and against the longest sequence it learns to recall the
    first input over, for σ_w from 0.5 to 2."""

    QUICK: ClassVar[Mapping[str, Any]] = {**_common.Training.QUICK, "lengths": (2, 8), "sigma_ws": (0.5, 1.5),
                                          "hidden_size": 16, "fit_steps": 4, "skip": 1}

    seeds: int = 3
    run_dir: str = "runs/mean_field"
    steps: int = 1000
    eval_every: int = 250
    learning_rate: float = 1e-3
    """Adam learning rate (global-norm clipping at --clip)."""
    hidden_size: int = 128
    """N."""
    sigma_ws: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    """σ_w of W_hh ~ N(0, σ_w²/N), swept in one program per length."""
    lengths: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    """Sequence lengths T."""
    solved: float = 0.9
    """Held-out accuracy at which a length counts as trainable."""
    fit_steps: int = 30
    """Steps of ‖∂L/∂h_t‖² whose mean per-step change is the measured log χ."""
    skip: int = 5
    """Steps before the last that the fit leaves out (the readout's direction is not yet typical)."""


def run_name(length: int) -> str:
    return f"rnn_T{length}"


CELL_OPTIONS = {"input_init": "normal", "input_std": NOISE_CHANNELS ** -0.5, "recurrent_init": "normal", "bias": False}
"""W_ih ~ N(0, 1/K); W_hh the same normal draw (``input_std`` scales both) times the swept
``recurrent_scale`` (:func:`recurrent_scale`); no biases."""


def recurrent_scale(sigma_w, hidden: int):
    """The ``recurrent_scale`` that makes W_hh ~ N(0, σ_w²/N) (its draw has std ``input_std``)."""
    return sigma_w / (math.sqrt(hidden) * CELL_OPTIONS["input_std"])


def sigma_w_of(scale, hidden: int):
    """σ_w of a member's ``recurrent_scale`` (the inverse of :func:`recurrent_scale`), rounded."""
    return np.round(np.asarray(scale) * math.sqrt(hidden) * CELL_OPTIONS["input_std"], 6)


def measured_log_chi(norms: np.ndarray, fit_steps: int, skip: int) -> float:
    """The mean per-step change of ``log ‖∂L/∂h_t‖²`` going back in time, over ``fit_steps``
    steps ending ``skip`` steps before the last (``norms`` over t = 0 .. T-1)."""
    logs = 2.0 * np.log(np.maximum(np.asarray(norms, np.float64), diagnostics.TINY))  # an underflowed norm: a bound
    end = len(logs) - 1 - skip
    return float((logs[end - fit_steps] - logs[end]) / fit_steps)


def table(res: results.Results, *, solved: float, fit_steps: int, skip: int) -> pd.DataFrame:
    """One row per σ_w and seed: the predictions (``chi``, ``xi``), ``log_chi`` measured and
    its ``chi_error``, the accuracy at every length (``acc_T``), ``t_max``, ``c`` and ``c_spread``."""
    hidden = int(res.runs.hidden_size.iloc[0])
    final = res.final("accuracy")
    final = final.assign(sigma_w=sigma_w_of(final.recurrent_scale, hidden))
    lengths = {run: int(t) for run, t in zip(res.runs.run, res.runs.seq_len)}
    longest = max(lengths, key=lengths.get)
    norms = res.with_members(res.grad_norms[(res.grad_norms.run == longest) & (res.grad_norms.step == 0)
                                            & (res.grad_norms.layer == 0)])
    norms = norms.assign(sigma_w=sigma_w_of(norms.recurrent_scale, hidden))
    rows = []
    for (sigma_w, seed), part in final.groupby(["sigma_w", "seed"]):
        theory = mean_field.tanh_rnn(float(sigma_w), 0.0, NOISE)
        accuracy = {lengths[run]: float(v) for run, v in zip(part.run, part.value)}
        t_max = 0
        for length in sorted(accuracy):
            if accuracy[length] < solved:
                break
            t_max = length
        censored = t_max in (0, max(accuracy))  # only a bound on c: beyond the grid at one end or the other
        curve = norms[(norms.sigma_w == sigma_w) & (norms.seed == seed)].sort_values("t").value.to_numpy()
        log_chi = measured_log_chi(curve, fit_steps, skip) if len(curve) else math.nan
        rows.append({"sigma_w": float(sigma_w), "seed": int(seed), "chi": theory.chi, "xi": theory.xi,
                     "log_chi": log_chi, "chi_error": abs(log_chi - math.log(theory.chi)),
                     **{f"acc_T{k}": v for k, v in sorted(accuracy.items())},
                     "t_max": t_max, "censored": censored, "c": t_max / abs(theory.xi)})
    frame = pd.DataFrame(rows)
    spread = {seed: part.c.max() / part.c.min() if len(part) > 1 else math.nan
              for seed, part in frame[~frame.censored].groupby("seed")}
    return frame.assign(c_spread=frame.seed.map(spread))


load = _measurements.load


def figure(frame: pd.DataFrame):
    fig, axes = plots._figure(ncols=2, width=7.6)
    theory = np.linspace(frame.sigma_w.min(), frame.sigma_w.max(), 60)
    axes[0].plot(theory, [math.log(mean_field.tanh_rnn(s, 0.0, NOISE).chi) for s in theory], color="grey",
                 linestyle=":", label="log χ, mean field")
    axes[0].scatter(frame.sigma_w, frame.log_chi, color="black", s=10, label="measured at init (seeds)")
    axes[0].axhline(0.0, color="grey", linewidth=0.8)
    axes[0].set(xlabel="σ_w", ylabel="per-step change of log ‖∂L/∂h_t‖²")
    axes[0].legend(fontsize=6)
    lengths = sorted(int(c[5:]) for c in frame.columns if c.startswith("acc_T"))
    mean = frame.groupby("sigma_w")[[f"acc_T{k}" for k in lengths]].mean()
    image = axes[1].imshow(mean.to_numpy().T, origin="lower", aspect="auto", vmin=0.5, vmax=1.0, cmap="viridis",
                           extent=(-0.5, len(mean) - 0.5, -0.5, len(lengths) - 0.5))
    fig.colorbar(image, ax=axes[1], label="held-out accuracy (mean over seeds)")
    axes[1].set_xticks(range(len(mean)), [f"{s:g}" for s in mean.index])
    axes[1].set_yticks(range(len(lengths)), [str(k) for k in lengths])
    inside = frame[~frame.censored]
    if len(inside):
        c = float(np.median(inside.c))
        bound = [np.log2(max(c * abs(mean_field.tanh_rnn(s, 0.0, NOISE).xi), 1e-3) / lengths[0]) for s in mean.index]
        axes[1].plot(range(len(mean)), bound, color="white", linestyle="--", label=f"T = {c:.2g}·|ξ| (median c)")
        axes[1].legend(fontsize=6, loc="upper left")
    axes[1].set(xlabel="σ_w", ylabel="T (first input to readout)", ylim=(-0.5, len(lengths) - 0.5))
    fig.suptitle("Mean-field timescale of a random tanh RNN (σ_x = 1, no bias)", fontsize=8)
    return fig


def main(cfg: Config) -> pd.DataFrame:
    cfg = _common.start(cfg)
    if not cfg.sigma_ws or not all(s > 0 for s in cfg.sigma_ws):
        raise ValueError(f"--sigma-ws {cfg.sigma_ws!r}: each σ_w must be > 0")
    if not cfg.lengths or min(cfg.lengths) < 1 or cfg.fit_steps + cfg.skip >= max(cfg.lengths):
        raise ValueError(f"--lengths {cfg.lengths!r}: expected lengths >= 1, the longest above fit-steps + skip "
                         f"= {cfg.fit_steps + cfg.skip}")
    optimizer = cfg.optax(cfg.learning_rate)
    configs = {run_name(length): _common.train_config(cfg, tasks.get("first_input", seq_len=length, noise=NOISE,
                                                                                      noise_channels=NOISE_CHANNELS), "rnn",
                                                      cfg.hidden_size, optimizer, cell_options=CELL_OPTIONS)
               for length in sorted(cfg.lengths)}
    sweep = {"recurrent_scale": [recurrent_scale(s, cfg.hidden_size) for s in cfg.sigma_ws]}
    res = _common.run_all("mean_field", configs, cfg, sweep=sweep, diagnose_at=[0, cfg.steps])
    return finish(res, cfg.run_dir)


def finish(res: results.Results, run_dir: str) -> pd.DataFrame:
    """The table and its figure from the loaded results and the options the experiment
    recorded (also used by experiments.figures)."""
    options = rundir.read_experiment(run_dir)["options"]
    frame = table(res, solved=options["solved"], fit_steps=options["fit_steps"], skip=options["skip"])
    frame = _measurements.write(frame.to_dict("records"), run_dir, figure, "trainability")
    columns = ["chi", "xi", "log_chi", "t_max", "c"]
    print(frame.groupby("sigma_w")[columns].mean().to_string())
    print(f"c_spread per seed: {frame.groupby('seed').c_spread.first().round(2).to_dict()}")
    print(f"\nresults: {os.path.abspath(run_dir)}")
    return frame


if __name__ == "__main__":
    _common.cli(main, Config)

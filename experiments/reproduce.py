"""The reproduction suite: every published claim of ``docs/reproductions.md``, by one command.

Each claim (:data:`CLAIMS`) is an experiment module run with the arguments written next to
it, into ``RUN_DIR/NAME``; its verdict is computed from those runs by the checks written
next to it (:mod:`rnn_jax.claims`), and the table of published against measured values,
verdicts, commands and wall times is written to ``docs/reproductions.md`` with one figure
per claim in ``docs/reproductions/``. Finished runs are reused and interrupted ones resume,
like every experiment.

    python -m experiments.reproduce                    # every claim (about 40 min on 2 cores)
    python -m experiments.reproduce --only adding_hs97 # one claim
    python -m experiments.reproduce --quick            # a tiny version of each (a few minutes)
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import os
import shutil
import time

from experiments import _common
from rnn_jax import claims, results, rundir
from rnn_jax.claims import Beats, CarriesFurther, Claim, Decay, Final

# Thresholds are fixed here, before the runs, and never moved to make a check pass:
# "beats the baseline" = final loss <= 0.5 × the trivial baseline; "stays at the baseline" =
# final loss >= 0.9 × baseline; "vanishes" = >= 4 decades over the sequence. Each check must
# hold in at least 3/4 of the seeds.
BEATS, AT_BASELINE = 0.5, 0.9
QUICK = ("--seeds", "2", "--steps", "40", "--eval-every", "20")  # with --quick: the same runs, tiny
CLAIMS: tuple[Claim, ...] = (
    Claim(
        name="gradient_decay",
        source="Arjovsky, Shah & Bengio 2016, Fig. 4",
        published="‖∂L/∂h_t‖ of the tanh RNN and the LSTM decays exponentially towards early t at "
                  "initialisation; after training the gated cells carry the gradient further back",
        experiment="vanishing_gradients",
        args=(),
        quick_args=("--torch-init-cells", "lstm"),
        setup="the main experiment's defaults: adding problem T = 100, hidden 32, Adam 3e-3, clip 1, batch 32, "
              "1500 steps, 8 seeds; the gated cells with chrono init, the LSTM also with PyTorch's init "
              "(Arjovsky et al.: hidden 128, RMSProp 1e-3, gradients shown after 100 iterations)",
        checks=(Decay("rnn", "first", at_least=4), Decay("lstm_torch_init", "first", at_least=4),
                CarriesFurther("lstm", "rnn"), CarriesFurther("gru", "rnn")),
        figure="grad_norms",
    ),
    Claim(
        name="adding_lengths",
        source="Arjovsky et al. 2016, Fig. 2; Bai, Kolter & Koltun 2018, Table 1",
        published="adding problem T = 100…400: the LSTM beats the 1/6 baseline, the tanh RNN never does "
                  "(Arjovsky); T = 600: GRU 5.3e-5, LSTM 0.164, tanh RNN 0.177 (Bai)",
        experiment="adding_problem",
        args=("--seq-lens", "100", "200", "400", "--hidden-size", "32", "--steps", "3000", "--eval-every", "250"),
        quick_args=(*QUICK, "--hidden-size", "8"),
        setup="hidden 32 (not 128), Adam 3e-3, clip 1, batch 32, 3000 steps, 4 seeds; LSTM and GRU with chrono "
              "init (T_max = T)",
        checks=tuple(check for T in (100, 200, 400) for check in (
            Final(f"lstm_T{T}", below=BEATS, relative_to_baseline=True),
            Final(f"gru_T{T}", below=BEATS, relative_to_baseline=True),
            Final(f"rnn_T{T}", above=AT_BASELINE, relative_to_baseline=True))),
        figure="mse_vs_length",
    ),
    Claim(
        name="adding_hs97",
        source="Hochreiter & Schmidhuber 1997, Exp. 4, Table 7",
        published="adding problem (their variant), T = 100: the LSTM solves it, absolute error < 0.04 on all "
                  "2560 test sequences, after 74,000 training sequences",
        experiment="adding_problem",
        args=("--variant", "hs97", "--seq-lens", "100", "--cells", "lstm", "--hidden-size", "32", "--seeds", "8",
              "--steps", "2500", "--eval-every", "250", "--eval-size", "2560"),
        quick_args=(*QUICK, "--hidden-size", "8", "--eval-size", "256"),
        setup="hidden 32 with chrono init (not 2 memory blocks of 2 cells), Adam 3e-3, clip 1, batch 32, 2500 steps "
              "(80,000 sequences), 8 seeds; 'nearly all' read as >= 99% of the 2560 test sequences",
        checks=(Final("lstm_T100", "accuracy", above=0.99),),
        figure="success_vs_length",
    ),
    Claim(
        name="copy_memory",
        source="Arjovsky et al. 2016, Fig. 1",
        published="copy memory: the LSTM beats the memoryless baseline 10·ln 8/(T + 20) at T = 100 and sits "
                  "on it at T >= 200",
        experiment="copy_memory",
        args=("--cells", "lstm", "--hidden-sizes", "40", "--delays", "100", "200", "--steps", "3000",
              "--eval-every", "250"),
        quick_args=(*QUICK, "--hidden-sizes", "8"),
        setup="as published: LSTM hidden 40, RMSProp 1e-3, PyTorch's init; clip 1, batch 32, 3000 steps, 4 seeds "
              "(8 seeds took over 10 minutes)",
        checks=(Final("lstm_T100", below=BEATS, relative_to_baseline=True),
                Final("lstm_T200", above=AT_BASELINE, relative_to_baseline=True),
                Final("lstm_T200", below=1.1, relative_to_baseline=True)),
        figure="learning_curves",
    ),
    Claim(
        name="copy_memory_exprnn",
        source="Arjovsky et al. 2016, Fig. 1 (unitary RNN); Lezcano-Casado & Martínez-Rubio 2019 (expRNN)",
        published="copy memory T = 100…500: the unitary RNN beats the memoryless baseline where the LSTM sits "
                  "on it beyond T = 100",
        experiment="copy_memory",
        args=("--cells", "exprnn", "--hidden-sizes", "128", "--delays", "100", "200", "500", "--steps", "3000",
              "--eval-every", "250"),
        quick_args=(*QUICK, "--hidden-sizes", "8"),
        setup="exprnn (orthogonal W_hh = expm(A - Aᵀ), modReLU, Henaff init) with hidden 128 (the uRNN's size), "
              "RMSProp 1e-3 for every parameter including A, clip 1, batch 32, "
              "3000 steps, 4 seeds",
        checks=tuple(Final(f"exprnn_T{T}", below=BEATS, relative_to_baseline=True) for T in (100, 200, 500)),
        figure="learning_curves",
    ),
    Claim(
        name="irnn_adding",
        source="Le, Jaitly & Hinton 2015, Fig. 2",
        published="adding problem T = 150: the IRNN (ReLU, W_hh = I) reaches low MSE; the tanh RNN stays at "
                  "the baseline",
        experiment="adding_problem",
        args=("--cells", "rnn", "irnn", "--seq-lens", "150", "--hidden-size", "100", "--learning-rate", "1e-3",
              "--steps", "3000", "--eval-every", "250"),
        quick_args=(*QUICK, "--hidden-size", "8"),
        setup="hidden 100 as published; Adam 1e-3 (not SGD), clip 1, batch 32, 3000 steps, 4 seeds",
        checks=(Beats("irnn_T150", "rnn_T150"), Final("irnn_T150", below=BEATS, relative_to_baseline=True),
                Final("rnn_T150", above=AT_BASELINE, relative_to_baseline=True)),
        figure="mse_vs_length",
    ),
    Claim(
        name="mnist1d",
        source="Greydanus & Kobak 2024, MNIST-1D README and notebooks/models.py",
        published="bidirectional GRU, hidden 6, linear head over all 40 outputs, Adam 1e-2, batch 100, 8000 "
                  "steps: 91% test accuracy (CNN 94%, MLP 68%, logistic regression 32%)",
        experiment="mnist1d",
        args=(),
        setup="as published (plus global-norm clipping 1), 4 seeds; last-state RNN / LSTM / GRU with hidden 32 beside it",
        checks=(Final("gru_bidir_flat", "accuracy", above=0.88),),
        figure="accuracy",
    ),
    Claim(
        name="clipping",
        source="Pascanu, Mikolov & Bengio 2013, Algorithm 1",
        published="norm clipping (threshold 1) lets a tanh RNN train at learning rates where, without it, the "
                  "gradient explodes and training diverges",
        experiment="clipping",
        args=("--seq-len", "10", "--recurrent-scale", "1.5", "--learning-rates", "0.03", "0.1", "0.3", "1.0",
              "--modes", "none", "global_norm"),
        quick_args=("--learning-rates", "0.3", "1.0"),
        setup="adding problem T = 10, hidden 64, W_hh gain 1.5 at init (a spectral radius above 1 invites "
              "explosion), SGD, batch 32, 1000 steps, 4 seeds. The checks read learning rate 0.3, the smallest of "
              "the sweep at which the unclipped runs diverged in a pilot run; *diverged* is a final loss >= 10 x "
              "baseline (or non-finite), *trains* is a final loss <= the baseline",
        checks=(Final("rnn_clip_none", above=10, relative_to_baseline=True, where={"learning_rate": 0.3}),
                Final("rnn_clip_global_norm", below=10, relative_to_baseline=True, where={"learning_rate": 0.3}),
                Final("rnn_clip_global_norm", below=1.0, relative_to_baseline=True, where={"learning_rate": 0.3})),
        figure="loss_vs_learning_rate",
    ),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Run every published claim (or --only some), check each from its runs, and write the
    table of published against measured values to docs/reproductions.md."""

    run_dir: str = "runs/reproduce"
    """Where each claim's runs go (RUN_DIR/NAME); rerunning reuses finished runs."""
    only: tuple[str, ...] = ()
    """Claims to run (default: all): gradient_decay, adding_lengths, adding_hs97, copy_memory,
    copy_memory_exprnn, irnn_adding, mnist1d, clipping. The report still lists the others whose runs exist."""
    quick: bool = False
    """A tiny version of each claim (each experiment's --quick preset): checks the machinery, not the science."""
    doc: str = ""
    """The report to write (default: docs/reproductions.md; with --quick, RUN_DIR/reproductions.md)."""
    progress: bool = True
    """Show progress bars."""


def selected(names: tuple[str, ...]) -> list[Claim]:
    known = {c.name: c for c in CLAIMS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--only {' '.join(unknown)}: expected claim names among {', '.join(known)}")
    return [known[n] for n in names] if names else list(CLAIMS)


def experiment_config(claim: Claim, run_dir: str, *, quick: bool = False, progress: bool = False):
    """The claim's experiment Config, parsed from its command line exactly as the shell would."""
    module = importlib.import_module(f"experiments.{claim.experiment}")
    args = claim.command(run_dir, quick=quick)[3:] + ([] if progress else ["--no-progress"])
    return module, _common.parse(module.Config, args)


def _stored(directory: str) -> dict:
    path = os.path.join(directory, "reproduce.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def reproduce(claim: Claim, run_dir: str, *, quick: bool, progress: bool, train: bool = True) -> dict | None:
    """Runs (or reuses) one claim's experiment and checks it: a record for the report. With
    ``train=False`` only a claim whose runs were finished before is read (else ``None``)."""
    directory = os.path.join(run_dir, claim.name)
    command = " ".join(claim.command(directory, quick=quick))
    stored = _stored(directory)
    if not train:
        if stored.get("command") != command:
            return None
        res = results.load(rundir.read_experiment(directory)["run_dirs"])
        seconds = stored["seconds"]
    else:
        module, cfg = experiment_config(claim, directory, quick=quick, progress=progress)
        print(f"=== {claim.name}: {command}", flush=True)
        start = time.perf_counter()
        res = module.main(cfg)
        seconds = time.perf_counter() - start
        if stored.get("command") == command:  # the runs were trained before: report that wall time
            seconds = stored["seconds"]
        rundir.save_json(os.path.join(directory, "reproduce.json"), {"command": command, "seconds": seconds})
    outcomes = claim.evaluate(res)
    figure = os.path.join(rundir.figures_dir(directory), f"{claim.figure}.png")
    return {"claim": claim, "command": command, "seconds": seconds, "outcomes": outcomes,
            "holds": claims.holds(outcomes), "figure": figure if os.path.exists(figure) else None}


def report(records: list[dict], doc: str, *, quick: bool) -> str:
    """Writes the markdown report (and copies each claim's figure beside it); returns its text."""
    figures = os.path.join(os.path.dirname(os.path.abspath(doc)), "reproductions")
    os.makedirs(figures, exist_ok=True)
    env = rundir.environment()
    lines = [
        "# Reproductions",
        "",
        "Written by `python -m experiments.reproduce" + (" --quick" if quick else "") + "` on "
        f"{datetime.date.today().isoformat()} ({env['platform']}, {env['cpus']} CPU cores, jax {env['versions']['jax']}). "
        "Each verdict is computed from the runs by the checks in `experiments/reproduce.py` "
        "(`rnn_jax.claims`): a check holds when at least 3/4 of the seeds pass it, a claim when all "
        "its checks hold. Thresholds were fixed before the runs: *beats the baseline* is a final loss "
        f"≤ {BEATS} × the trivial baseline, *stays at the baseline* ≥ {AT_BASELINE} × it; a gradient "
        "norm that underflowed to 0 counts as the smallest float32, so its decades are a lower bound (about 45). "
        "Wall times are those of the run that trained the claim on this machine.",
        "",
        "| claim | published | ours | verdict | command | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        claim, verdict = r["claim"], "holds" if r["holds"] else "**does not hold**"
        ours = "; ".join(f"{o.text}: {o.summary()}" for o in r["outcomes"][:3])
        ours += f"; … ({len(r['outcomes'])} checks)" if len(r["outcomes"]) > 3 else ""
        lines.append(f"| [{claim.name}](#{claim.name.replace('_', '-')}) ({claim.source}) | {claim.published} | {ours} "
                     f"| {verdict} | `{r['command']}` | {r['seconds'] / 60:.1f} min |")
    for r in records:
        claim = r["claim"]
        lines += ["", f"## {claim.name.replace('_', '-')}", "", f"**{claim.source}.** {claim.published}.", "",
                  f"Setup: {claim.setup}.", "", f"Command: `{r['command']}` ({r['seconds']:.0f} s).", "",
                  "| check | mean ± std over seeds (seeds passing) | needed | holds |", "|---|---|---|---|"]
        lines += [f"| {o.text} | {o.summary()} | {o.needed}/{o.seeds} | {'yes' if o.holds else 'no'} |"
                  for o in r["outcomes"]]
        if r["figure"]:
            target = os.path.join(figures, f"{claim.name}.png")
            shutil.copyfile(r["figure"], target)
            lines += ["", f"![{claim.name}](reproductions/{claim.name}.png)"]
        lines += ["", f"Verdict: **{'holds' if r['holds'] else 'does not hold'}**."]
    text = "\n".join(lines) + "\n"
    with open(doc, "w") as f:
        f.write(text)
    return text


def main(cfg: Config) -> list[dict]:
    chosen = selected(cfg.only)
    doc = cfg.doc or (os.path.join(cfg.run_dir, "reproductions.md") if cfg.quick else "docs/reproductions.md")
    os.makedirs(cfg.run_dir, exist_ok=True)
    records = [reproduce(c, cfg.run_dir, quick=cfg.quick, progress=cfg.progress, train=c in chosen) for c in CLAIMS]
    records = [r for r in records if r is not None]
    report(records, doc, quick=cfg.quick)
    print(f"\n{'claim':<16} {'verdict':<15} {'minutes':>7}")
    for r in records:
        print(f"{r['claim'].name:<16} {'holds' if r['holds'] else 'does not hold':<15} {r['seconds'] / 60:7.1f}")
    print(f"\nreport: {os.path.abspath(doc)}")
    return records


if __name__ == "__main__":
    _common.cli(main, Config)

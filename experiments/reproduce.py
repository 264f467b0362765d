"""The reproduction suite: every published claim of ``docs/reproductions.md``, by one command.

Each claim (:data:`CLAIMS`) is an experiment module run with the arguments written next to
it, into ``RUN_DIR/NAME``; its verdict is computed from those runs by the checks written
next to it (:mod:`experiments.claims`), and the table of published against measured values,
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
import math
import os
import re
import shutil
import time

from experiments import (_cell_options, _common, adding_problem, claims, clipping, copy_memory, credit_assignment,
                         curse_of_memory, dynamics, gradient_flossing, linear_teacher, mean_field, mnist1d,
                         newton_iterations, vanishing_gradients)
from experiments.claims import (Beats, Budget, CarriesFurther, Claim, Contrast, Decay, Final, Measured, Published,
                               Reaches, Untrained)
from rnn_jax.analysis import plots
from rnn_jax.io import results, rundir

# Thresholds are fixed here, before the runs, and never moved to make a check pass. Each is
# written so that the source's own points pass it (tests/test_claims.py evaluates every check on
# them) and stated relative to the published value; each check must hold in at least 3/4 of the
# seeds. Values "read off" a figure were read by eye from the source's image at the budgets listed.
QUICK = {"seeds": 2, "steps": 40, "eval_every": 20}  # with --quick: the same runs, tiny

# Arjovsky, Shah & Bengio 2016's training setup, from their code (amarshah/complex_RNN, optimizations.py,
# memory_problem.py, adding_problem.py, models.py): RMSProp lr 1e-3, decay 0.9, average started at 1e-3;
# element-wise clipping at 1; Glorot-uniform matrices per gate, zero biases, LSTM forget bias 1; a fixed
# training set of 1e5 sequences. Batch 20 ("batch sizes of 20 and 50", the smaller one). ε = 1e-30 under
# the square root where theirs has none, so that a gradient that stays exactly 0 cannot make 0/0.
ARJOVSKY = dict(optimizer="rmsprop", learning_rate=1e-3, optimizer_args={"initial_scale": 1e-3, "eps": 1e-30},
                clipping="clip", clip=1.0, init="arjovsky", batch_size=20, train_size=100_000)
ARJOVSKY_UNCLIPPED = {**ARJOVSKY, "clipping": None}
URNN_PAPER = "Arjovsky, Shah & Bengio 2016 (uRNN paper source, amarshah/complex_RNN paper/uRNN/figures"
FIG1 = f"{URNN_PAPER}/memory_{{T}}.jpeg, Fig. 1 panel T = {{T}}), read off the plot"
FIG2 = (f"{URNN_PAPER}/adding_{{T}}.jpeg, Fig. 2 panel T = {{T}}), read off the plot; its x-axis is steps, "
        "converted at batch 20")
FIG4 = f"{URNN_PAPER}/grads_{{which}}.jpeg, Fig. 4), read off the plot (T = 1000; colours as in Figs. 1-2)"
COPY_BASELINE = {T: 10 * math.log(8) / (T + 20) for T in (100, 200, 300, 500, 1000)}
ADDING_BASELINE = 1 / 6


def at_paper_budget(claim: Claim, *, steps: int, checks, published: str, **changes) -> Claim:
    """The ``--paper`` twin of a claim run at a scaled budget: the same command with the
    source's number of steps, its own checks there."""
    config = dataclasses.replace(claim.config, steps=steps)
    return dataclasses.replace(claim, name=f"{claim.name}_paper", config=config, checks=checks, published=published,
                               verdict=Budget.PAPER, paper_only=True, setup=f"as {claim.name}, at the source's "
                               f"budget ({steps:,} steps)", **changes)


def _sgd_cr_only(claim: Claim) -> Claim:
    """``claim`` with SGD-CR's run only (``--omegas 2``, not ``0 2``)."""
    return dataclasses.replace(
        claim, config=dataclasses.replace(claim.config, omegas=(2.0,)),
        setup=claim.setup + "; SGD-CR only (SGD-C would double the wall time)",
        not_run="not in this report: 1-2 h alone on this CPU, 3-4 h beside other work (this SGD-CR run made 23-31 "
                "steps/s beside three other jobs on 2026-12-02 and was stopped). An earlier run of SGD-C and SGD-CR "
                "together (121 min beside other work, 2026-12-02, run directory not kept) measured: holds, best "
                "accuracy 0.984 ± 0.032 by 6.72M examples, 3/4 seeds ≥ 0.99")


def _copy_points(run: str, T: int, label: str, points) -> Published:
    return Published(run, "loss", points, FIG1.format(T=T), baseline=COPY_BASELINE[T], label=label)


def _adding_points(run: str, T: int, label: str, steps_values) -> Published:
    return Published(run, "loss", tuple((20 * n, v) for n, v in steps_values), FIG2.format(T=T),
                     baseline=ADDING_BASELINE, label=label)


UNITARY_COPY = {100: ((20_000, 0.0), (100_000, 0.0)), 200: ((30_000, 0.003), (100_000, 0.0)),
                500: ((100_000, 0.0), (1_000_000, 0.0))}
"""The uRNN's copy-memory curve in Arjovsky et al.'s Fig. 1, by T: (examples, cross-entropy)."""


def _unitary_copy(cell: str, hidden: int, source: str, model: str, setup: str) -> tuple[Claim, Claim]:
    """``copy_memory_{cell}`` (T = 100 and 200) and ``copy_memory_{cell}_paper`` (T = 500):
    ``cell`` at the uRNN's setup, checked against the uRNN's curves."""

    def claim(delays, **fields):
        return Claim(
            control=Untrained(),
            config=copy_memory.Config(cells=(cell,), hidden_sizes=(hidden,), delays=delays, **ARJOVSKY_UNCLIPPED,
                                      steps=5000, eval_every=250),
            quick={**QUICK, "hidden_sizes": (8,)},
            checks=tuple(Final(f"{cell}_T{T}", below=0.25, relative_to_baseline=True, examples=100_000)
                         for T in delays),
            points=tuple(_copy_points(f"{cell}_T{T}", T, "uRNN", UNITARY_COPY[T]) for T in delays), **fields)

    return (
        claim((100, 200), name=f"copy_memory_{cell}", source=source, setup=setup,
              published=f"copy memory: {model} reaches ~0 cross-entropy within ~20k examples at T = 100 and ~0.003 "
                        "at 30k, ~0 by 100k at T = 200; the LSTM sits on the baseline there"),
        claim((500,), name=f"copy_memory_{cell}_paper", source="Arjovsky, Shah & Bengio 2016, Fig. 1 (uRNN, T = 500)",
              setup=f"as copy_memory_{cell}, at T = 500", paper_only=True,
              published="copy memory T = 500: the uRNN is at ~0 cross-entropy from ~90k examples on (after spikes "
                        "to 0.09 at ~45k and 0.04 at ~80k)"),
    )


REVISED = ("set on 2026-12-07, after the runs of that day, from the source alone (a value read off a figure "
           "within its reading error: a factor 2 on a linear loss axis, a decade on a log one; a table's count "
           "as it stands): ")
"""How a threshold revised after a run says where it came from (:attr:`Claim.thresholds`)."""

IRNN_BATCH_50 = ("the batch (the paper reports the better of 20 and 50), for the IRNN: at batch 50 for the same 100k "
                 "examples (2,000 steps, 4 seeds, 73 s, 2026-12-07) it learns too, 0.0088-0.0175 (4/4 under the "
                 "baseline), so the batch is not why ours beats it")
"""adding_arjovsky's IRNN run at batch 50 for the same 100k examples (2026-12-07)."""

IRNN_TEXT = Published("irnn_T100", "loss", ((100_000, ADDING_BASELINE), (600_000, ADDING_BASELINE)),
                      f"{URNN_PAPER}, §4.2 text: the IRNN was 'not able to beat the baseline for any number of time "
                      "steps' (no curve shown); drawn at the baseline over the figure's 30,000 steps",
                      baseline=ADDING_BASELINE, label="IRNN")
# Pascanu et al.'s SGD-CR, from their code's defaults (RNN.py) and its committed log (test_output.txt, temporal
# order inferred from its 75% chance error with 4 classes): tanh RNN, hidden 50, smart_tanh init, SGD lr 0.01, batch
# 20, norm clipping at 1, Ω with α = 2, lengths in [50, 200].
SGD_CR_CONFIG = clipping.Config(task="temporal_order", seq_len=200, min_len=50, hidden_size=50, init="pascanu",
                                optimizer="sgd", learning_rates=(0.01,), batch_size=20, modes=("global_norm",), clip=1.0,
                                omegas=(0.0, 2.0), seeds=4)
SGD_CR_TEXT = ("temporal order, lengths 50-200, tanh RNN with 50 units, SGD 0.01, norm clipping at 1 and Ω "
               "(α = 2): their log sits at chance (75% error) for ~250k iterations (5e6 examples at batch 20) and "
               "reaches 0% error on 10,000 sequences at iteration 336,000 (6.7e6 examples). The paper's Fig. 7 "
               "(SGD and SGD-C failing beyond ~20 steps) was not read here, so SGD-C (drawn) is not checked")
SGD_CR_SETUP = ("their code's setup; our lengths vary per sequence where theirs vary per batch, and our linear head "
                "has PyTorch's init where theirs is N(0, 0.01²)")
_LOG = "pascanur/trainingRNNs test_output.txt (valid error on 10,000 sequences every 2,000 iterations; 1 - error)"
SGD_CR_POINTS = (Published("rnn_clip_global_norm_omega2", "accuracy",
                           ((40_000, 0.2496), (200_000, 0.4583), (400_000, 0.2834), (800_000, 0.2467),
                            (2_000_000, 0.2507), (4_000_000, 0.2517), (5_000_000, 0.4899), (6_000_000, 0.9742),
                            (6_600_000, 0.9704), (6_720_000, 1.0)), _LOG, label="SGD-CR (their log)"),)
SGD_CR = Claim(
    name="sgd_cr",
    control=Untrained(),
    source="Pascanu, Mikolov & Bengio 2013, SGD-CR (code pascanur/trainingRNNs, test_output.txt)",
    published=SGD_CR_TEXT + "; at 200k examples it is far from solved (46% accuracy, 25% is chance)",
    config=dataclasses.replace(SGD_CR_CONFIG, steps=10_000, eval_every=500),
    quick={**QUICK, "seq_len": 20, "min_len": 10, "hidden_size": 8},
    setup=SGD_CR_SETUP + "; 200k examples (10,000 steps) of their 6.7M: the full budget is sgd_cr_paper",
    checks=(Final("rnn_clip_global_norm_omega2", "accuracy", below=0.9, examples=200_000),),
    points=SGD_CR_POINTS,
    metric="accuracy",
    verdict=Budget.scaled(200_000),
)
"""SGD-CR at 200k examples, where their log sits at chance: the base of sgd_cr_paper, and not a claim of its
own, since a network that learns nothing passes its check (dropped on 2026-12-07; the 200k-example runs of
SGD-C and SGD-CR measured 0.25 accuracy, chance, where their log is at chance but for a blip to 0.46)."""

CLAIMS: tuple[Claim, ...] = (
    Claim(
        name="gradient_decay",
        control=Contrast({"exprnn": "rnn", "rnn": "exprnn", "lstm": "exprnn"}),
        source="Arjovsky, Shah & Bengio 2016, Fig. 4",
        published="‖∂L/∂h_t‖ on the adding problem, T = 1000, hidden 128: at initialisation it falls about 13 "
                  "decades from t = 1000 to t = 0 for the tanh RNN and more than 22 for the LSTM (below the plot "
                  "before t = 450), and stays flat for the uRNN; after 100 iterations the uRNN falls about 8 "
                  "decades and both others more than 22",
        config=vanishing_gradients.Config(seq_len=1000, cells=("rnn", "lstm", "exprnn"), chrono_cells=(), torch_init_cells=(),
                                          hidden_size=128, **ARJOVSKY, steps=100, eval_every=50, seeds=4),
        quick={**QUICK, "seq_len": 30, "hidden_size": 8},
        setup="the source's setup (RMSProp 1e-3, element-wise clip 1, Glorot init, batch 20, 100 iterations), "
              "hidden 128 for all three; exprnn (orthogonal W_hh = expm(A - Aᵀ)) stands in for the uRNN, at hidden "
              "128 where the paper's adding uRNN had 512, and is clipped like the others for these 100 steps",
        thresholds=REVISED + "a decade read off Fig. 4's log axis, so the tanh RNN's 'about 13' decades at "
                   "initialisation is ≥ 12, and the LSTM's curve, which leaves the plot at 22 decades, is ≥ 22 (they "
                   "were ≥ 6.5 and ≥ 11, half the published values)",
        tried=(
            "the draw of the initial weights (2026-12-07, 80 s; the decades at initialisation of the claim's models on "
            "one batch of 20 sequences, for 16 seeds and for the authors' own draw): Glorot W_hh of 128 units has "
            "spectral radius about 1, and there the decay depends on the draw by tens of decades. The tanh RNN falls "
            "a median 8.4 decades (from -0.5, a gradient that grows backwards, to 45, an underflow; 5/16 seeds ≥ 12), "
            "the LSTM a median 17.9 (9.5 to 45; 7/16 ≥ 22). The authors' one draw (models.py: NumPy RandomState(1234), "
            "their order of draws; the LSTM without its peephole V_o) gives -1.2 decades for the tanh RNN and an "
            "underflow for the LSTM. So Fig. 4's 13 decades for the tanh RNN is one draw of a quantity that varies "
            "between draws far more than the figure's reading error, and their own draw does not give it in our "
            "code; the LSTM's > 22 holds for their draw and for 7 of 16 of ours",
            "left untried: the batch the figure was drawn on (one sequence or a mean, not stated), and the uRNN "
            "itself (exprnn stands in)"),
        checks=(Decay("rnn", 0, at_least=12), Decay("lstm", 0, at_least=22), Decay("exprnn", 0, at_most=1),
                CarriesFurther("exprnn", "rnn", examples=2000), CarriesFurther("exprnn", "lstm", examples=2000)),
        points=(Published("rnn", "decades", ((0, 13.0), (2000, 22.0)), FIG4.format(which="0 and grads_100"),
                          label="RNN"),
                Published("lstm", "decades", ((0, 22.0), (2000, 22.0)), FIG4.format(which="0 and grads_100") +
                          "; 22 is a lower bound (the curve leaves the plot at 1e-24)", label="LSTM"),
                Published("exprnn", "decades", ((0, 0.05), (2000, 7.8)), FIG4.format(which="0 and grads_100"),
                          label="uRNN")),
        metric="decades",
        figure="grad_norms",
    ),
    Claim(
        name="adding_arjovsky",
        control=Contrast({"lstm_T100": "rnn_T100", "rnn_T100": "lstm_T100", "irnn_T100": "lstm_T100"}),
        source="Arjovsky et al. 2016, Fig. 2 and §4.2",
        published="adding problem T = 100, hidden 128: the LSTM leaves the 1/6 baseline by ~1,000 steps and is "
                  "near 0 by ~3,000 (MSE ~0.01 at 5,000); the tanh RNN stays on the baseline for all 30,000 steps; "
                  "the IRNN (not plotted) 'was not able to beat the baseline for any number of time steps'",
        config=adding_problem.Config(cells=("rnn", "irnn", "lstm"), seq_lens=(100,), chrono_cells=(), hidden_size=128,
                                     **ARJOVSKY, steps=5000),
        quick={**QUICK, "hidden_size": 8},
        setup="the source's setup (see ARJOVSKY in experiments/reproduce.py), T = 100 only, 5,000 steps of batch 20 "
              "(100k examples) of the figure's 30,000; the IRNN with identity W_hh and Glorot input weights as in "
              "their code, at lr 1e-3 (they report it stable only at much lower rates)",
        thresholds=REVISED + "the LSTM's value of 0.01 at 5,000 steps (100k examples) within a factor 2, so "
                   "≤ 0.02 (it was ≤ 0.5 × baseline, 0.083: eight times the published value)",
        tried=(
            "the readout (init='arjovsky' since 2026-12-07): PyTorch's U(±0.088) with a random bias, then theirs "
            "(models.py's initialize_matrix: Glorot U(±0.216), zero bias). With PyTorch's (runs of 2026-12-01/02) "
            "the LSTM was at 0.067 ± 0.068 (3/4 seeds under 0.083) and the IRNN diverged (loss 2e20) in 3 of 4 "
            "seeds; with theirs the LSTM is at 0.018 ± 0.012 and the IRNN learns in 4 of 4 (0.006-0.021), from "
            "initial losses up to 32 and gradient norms up to 5e12 that the element-wise clip tames",
            IRNN_BATCH_50,
            "left untried: their trained initial state (ours is zero) and their one fixed initialisation (NumPy "
            "seed 1234 in every run); their IRNN curves are not shown ('particularly unstable'), so which of their "
            "runs failed, and how, is not known"),
        checks=(Final("lstm_T100", below=2 * 0.01, examples=100_000),
                Final("rnn_T100", above=0.9, relative_to_baseline=True, examples=100_000),
                Final("irnn_T100", above=0.9, relative_to_baseline=True, examples=100_000)),
        points=(_adding_points("lstm_T100", 100, "LSTM", ((1000, 0.16), (1500, 0.07), (3000, 0.02), (5000, 0.01),
                                                          (10_000, 0.008), (30_000, 0.005))),
                _adding_points("rnn_T100", 100, "RNN with tanh", ((1000, 0.17), (5000, 0.17), (10_000, 0.17),
                                                                   (30_000, 0.17))),
                IRNN_TEXT),
        verdict=Budget.scaled(100_000),
    ),
    Claim(
        name="adding_arjovsky_paper",
        control=Contrast({f"{a}_T{T}": f"{b}_T{T}" for T in (100, 200, 400) for a, b in (("lstm", "rnn"), ("rnn", "lstm"))}),
        source="Arjovsky et al. 2016, Fig. 2 and §4.2",
        published="adding problem, hidden 128, 30,000 steps: the LSTM 'convincingly' beats the baseline at T = 100, "
                  "200 and 400 (MSE ~0.005 at 30,000 steps in each panel); the tanh RNN and the IRNN never beat it",
        config=adding_problem.Config(cells=("rnn", "irnn", "lstm"), seq_lens=(100, 200, 400), chrono_cells=(),
                                     hidden_size=128, **ARJOVSKY, steps=30_000, eval_every=1000),
        quick={**QUICK, "hidden_size": 8},
        setup="the source's setup and budget (30,000 steps of batch 20 = 600k examples)",
        checks=tuple(check for T in (100, 200, 400) for check in (
            Final(f"lstm_T{T}", below=2 * 0.005, examples=600_000),
            Final(f"rnn_T{T}", above=0.9, relative_to_baseline=True, examples=600_000))),
        points=(_adding_points("lstm_T100", 100, "LSTM", ((5000, 0.01), (30_000, 0.005))),
                _adding_points("lstm_T200", 200, "LSTM", ((5000, 0.167), (10_000, 0.09), (15_000, 0.02),
                                                          (30_000, 0.005))),
                _adding_points("lstm_T400", 400, "LSTM", ((5000, 0.167), (10_000, 0.1), (15_000, 0.02),
                                                          (30_000, 0.005))),
                *(_adding_points(f"rnn_T{T}", T, "RNN with tanh", ((5000, 0.17), (30_000, 0.17))) for T in (100, 200, 400))),
        paper_only=True,
        not_run="not run here at its budget: about 6 h on this CPU, from adding_arjovsky (5,000 steps at T = 100, "
                "8.5 min): 6x the steps, over T = 100, 200 and 400 (7x the steps of T = 100)",
    ),
    Claim(
        name="adding_hs97",
        control=Untrained(),
        source="Hochreiter & Schmidhuber 1997, Exp. 4, Table 7",
        published="adding problem (their variant), T = 100: the LSTM solves it (1 wrong of 2560 test sequences, "
                  "|error| < 0.04) after 74,000 training sequences on average",
        config=adding_problem.Config(variant="hs97", seq_lens=(100,), cells=("lstm",), hidden_size=32, seeds=8,
                                     steps=2313, eval_every=257, eval_size=2560),
        quick={**QUICK, "hidden_size": 8, "eval_size": 256},
        setup="a modern LSTM (forget gate, hidden 32, chrono init, Adam 3e-3, global-norm clip 1, batch 32) for "
              "the same 74,000 sequences; theirs had no forget gate, 2 memory blocks of 2 cells, online SGD at "
              "lr 0.5, which ours does not express",
        thresholds=REVISED + "Table 7's 1 wrong of 2,560 test sequences, so accuracy ≥ 2559/2560 (it was ≥ 0.99, "
                   "25 wrong)",
        checks=(Final("lstm_T100", "accuracy", above=2559 / 2560, examples=74_000),),
        points=(Published("lstm_T100", "accuracy", ((74_000, 2559 / 2560),), "Table 7 (T = 100: 1 of 2560 wrong, "
                          "74,000 sequences)", label="LSTM (H&S 1997)"),),
        metric="accuracy",
    ),
    Claim(
        name="copy_memory",
        control=Contrast({"lstm_T100": "rnn_T100", "rnn_T100": "lstm_T100"}),
        source="Arjovsky et al. 2016, Fig. 1 (T = 100)",
        published="copy memory T = 100: the LSTM reaches the memoryless baseline 0.173 by ~50k examples, stays "
                  "on it until ~200k, then falls slowly to ~0.145 (0.84x) at 1e6; never near 0.5x. The tanh RNN "
                  "sits on the baseline (~0.171) throughout",
        config=copy_memory.Config(cells=("rnn", "lstm"), hidden_sizes=(80, 40), delays=(100,), **ARJOVSKY, steps=50_000,
                                  eval_every=1000),
        quick={**QUICK, "hidden_sizes": (8, 8), "delays": (100,)},
        setup="the source's setup and budget (1e6 examples = 50,000 steps of batch 20; RNN 80, LSTM 40). Our "
              "LSTM has no output-gate peephole and no learned initial state, and our output has 10 classes "
              "where theirs has 9 (the delimiter is never a target)",
        checks=(Final("lstm_T100", above=0.9, relative_to_baseline=True, examples=200_000),
                Final("lstm_T100", below=0.95, relative_to_baseline=True, examples=1_000_000),
                Final("rnn_T100", above=0.9, relative_to_baseline=True, examples=1_000_000)),
        points=(_copy_points("lstm_T100", 100, "LSTM", ((50_000, 0.172), (100_000, 0.172), (200_000, 0.168),
                                                        (400_000, 0.163), (600_000, 0.157), (800_000, 0.150),
                                                        (1_000_000, 0.145))),
                _copy_points("rnn_T100", 100, "RNN with tanh", ((50_000, 0.171), (200_000, 0.171),
                                                                 (600_000, 0.172), (1_000_000, 0.171)))),
    ),
    COPY_T200 := Claim(
        name="copy_memory_T200",
        control=Contrast({"lstm_T200": "rnn_T200", "rnn_T200": "lstm_T200"}),
        source="Arjovsky et al. 2016, Fig. 1 (T = 200)",
        published="copy memory T = 200: the LSTM reaches the baseline 0.0945 by ~100k examples, dips to ~0.090 "
                  "(0.95x) between ~160k and ~340k, then sits on the baseline until 1e6; so does the tanh RNN",
        config=copy_memory.Config(cells=("rnn", "lstm"), hidden_sizes=(80, 40), delays=(200,), **ARJOVSKY, steps=20_000,
                                  eval_every=1000),
        quick={**QUICK, "hidden_sizes": (8, 8)},
        setup="the source's setup, 400k examples (20,000 steps of batch 20) of the figure's 1e6: 1e6 takes about "
              "35 minutes here (python -m experiments.reproduce --paper runs it as copy_memory_T200_paper)",
        checks=(Final("lstm_T200", above=0.9, relative_to_baseline=True, examples=400_000),
                Final("lstm_T200", below=1.1, relative_to_baseline=True, examples=400_000),
                Final("rnn_T200", above=0.9, relative_to_baseline=True, examples=400_000)),
        points=(_copy_points("lstm_T200", 200, "LSTM", ((100_000, 0.094), (200_000, 0.093), (300_000, 0.090),
                                                        (400_000, 0.0945), (1_000_000, 0.0945))),
                _copy_points("rnn_T200", 200, "RNN with tanh", ((100_000, 0.094), (400_000, 0.094),
                                                                 (1_000_000, 0.094)))),
        verdict=Budget.scaled(400_000),
    ),
    at_paper_budget(
        COPY_T200, steps=50_000, published="copy memory T = 200, 1e6 examples: the LSTM and the tanh RNN end on the "
                                            "baseline 0.0945",
        checks=(Final("lstm_T200", above=0.9, relative_to_baseline=True, examples=1_000_000),
                Final("lstm_T200", below=1.1, relative_to_baseline=True, examples=1_000_000),
                Final("rnn_T200", above=0.9, relative_to_baseline=True, examples=1_000_000))),
    *_unitary_copy(
        "exprnn", 128, "Arjovsky et al. 2016, Fig. 1 (uRNN); Lezcano-Casado & Martínez-Rubio 2019 (expRNN)",
        "the uRNN (hidden 128, RMSProp 1e-3, no clipping)",
        setup="exprnn (orthogonal W_hh = expm(A - Aᵀ), modReLU, Henaff init; an orthogonal real RNN, not the "
              "uRNN's complex product of reflections, permutation and FFTs) at the uRNN's setup: hidden 128, "
              "RMSProp 1e-3 for every parameter, no clipping, batch 20, 1e5 examples; T = 500 is left to --paper "
              "(copy_memory_exprnn_paper): at hidden 128 and 520 steps it alone takes about 20 minutes here"),
    *_unitary_copy(
        "urnn", 256, "Arjovsky, Shah & Bengio 2016, Fig. 1 (uRNN; code amarshah/complex_RNN)",
        "the uRNN (128 complex units, RMSProp 1e-3, no clipping)",
        setup="urnn (W = D₃R₂F⁻¹D₂ΠR₁FD₁ on 128 complex units, carried as 256 reals; modReLU), exact to the "
              "authors' recurrence, at their setup: RMSProp 1e-3 for every parameter, no clipping, batch 20, a "
              "fixed set of 1e5 training sequences; their trained initial state is zero here. T = 500 is "
              "copy_memory_urnn_paper"),
    Claim(
        name="indrnn_adding",
        control=Untrained(),
        source="Li, Li, Cook, Zhu & Gao 2018, Fig. 2(c) (IndRNN; code Sunnydreamrain/IndRNN_Theano_Lasagne "
               "adding/adding.py)",
        published="adding problem, T = 1000: the two-layer IndRNN (128 units each, Adam 2e-4) leaves the 0.167 "
                  "baseline at once and reaches ~0.07 MSE at 1,000 steps, ~0.025 at 2,000, ~0.015 at 3,000, ~0.007 "
                  "at 5,000 and ~0 by 20,000, while the tanh RNN, IRNN and LSTM stay on the baseline for 60,000 "
                  "steps",
        config=adding_problem.Config(cells=("indrnn",), layers=2, hidden_size=128, seq_lens=(1000,), chrono_cells=(),
                                     cell_options=_cell_options.of(indrnn={"recurrent_init": "near_one", "grad_clip": 10.0}),
                                     first_layer=_cell_options.of(indrnn={"recurrent_init": "uniform"}), head_init="glorot",
                                     optimizer="adam", learning_rate=2e-4, clipping=None, batch_size=32, steps=3000,
                                     eval_every=250, seeds=4),
        quick={**QUICK, "hidden_size": 8, "batch_size": 32},
        setup="their adding script's model: two IndRNN layers of 128, |u| ≤ 2^(1/1000) kept by clipping after every "
              "step, W ~ N(0, 0.001²), u ~ U[0, 2^(1/1000)] in the first layer and U[2^(-1/1000), 2^(1/1000)] in the "
              "second, the gradient reaching each step's pre-activation clipped at 10 (Lasagne's grad_clipping), a "
              "Glorot-uniform output layer with a zero bias (Lasagne's DenseLayer); Adam 2e-4, batch 32 (their "
              "script's default; the paper does not state it), fresh sequences. 3,000 of the figure's 60,000 steps "
              "(96k examples); T = 5000 (Fig. 2(d)) needs about 20,000 steps and is not run",
        tried=(
            "each difference from their script alone, then together (2026-12-07; 2 seeds, 1,500 steps, held-out MSE "
            "at 1,500 steps; the run of 2026-12-04 had none of them and sat at 0.168 ± 0.013 at 3,000 steps): the "
            "Glorot output layer alone 0.174 / 0.160; the per-step gradient clip at 10 alone 0.162 / 0.167; their "
            "first layer's u ~ U[0, 2^(1/1000)] alone 0.142 / 0.159, all near the 0.167 baseline. All three "
            "together: one seed leaves the baseline by 500 steps (0.117, then 0.051 at 750, 0.031 at 1,000, where "
            "the paper is at ~0.07), the other by 1,500 (0.105). So the three differences matter together, and the "
            "claim is now run with all three (this section's row)",),
        thresholds="set on 2026-12-07 from the source alone, before the run with the three differences and after "
                   "the 1,500-step runs of its diagnosis: the paper's ~0.015 at 3,000 steps within a factor 2 (a linear "
                   "axis read by eye), so ≤ 0.03 (it was ≤ 0.25 × baseline, 0.042: nearly three times the value)",
        checks=(Final("indrnn_T1000", below=2 * 0.015, examples=96_000),),
        points=(Published("indrnn_T1000", "loss", ((32_000, 0.07), (64_000, 0.025), (96_000, 0.015),
                                                   (160_000, 0.007), (320_000, 0.003), (640_000, 0.001)),
                          "Li et al. 2018, Fig. 2(c) (paper PDF in Sunnydreamrain/IndRNN_Theano_Lasagne), read off "
                          "the plot; its x-axis is steps, converted at batch 32", baseline=ADDING_BASELINE,
                          label="IndRNN"),),
        verdict=Budget.scaled(96_000),
    ),
    Claim(
        name="lem_adding",
        control=Untrained(),
        source="Rusch, Mishra, Erichson & Mahoney 2022 (LEM; code and logs tk-rusch/LEM src/adding)",
        published="adding problem, T = 2000: LEM (128 units, Δt = 0.0242, Adam 0.0026, batch 50) sits on the "
                  "baseline for ~1,500 steps, then its test MSE falls to 0.0064 at 1,900 steps, 0.0023 at 2,500, "
                  "0.00035 at 10,000 and 5e-05 at 30,000 (their log adding_log_seqlength_2000.txt, one run)",
        config=adding_problem.Config(cells=("lem",), cell_options=_cell_options.of(lem={"dt": 0.0242}), hidden_size=128,
                                     seq_lens=(2000,), chrono_cells=(), optimizer="adam", learning_rate=2.6e-3,
                                     clipping=None, batch_size=50, steps=2500, eval_every=100, seeds=2),
        quick={**QUICK, "hidden_size": 8},
        setup="as their adding_task.py (PyTorch default initialisation of every LEM weight at U(±1/sqrt(128)), "
              "fresh sequences, 1,000 test sequences), 2 seeds for 2,500 of their 30,000 steps (125k examples): "
              "at T = 2000 a step of 2 seeds takes about a second here",
        thresholds="set on 2026-12-07 while the run was at step 600 of 2,500, still on the baseline, from the "
                   "source alone: their log's 0.0023 at 2,500 steps within a factor 2, so ≤ 0.0046 (it was ≤ 0.25 × "
                   "baseline, 0.042: eighteen times the published value)",
        tried=("none yet. Seed 1 leaves the baseline at about 2,000 steps (0.12 at 2,500), seed 0 has not by "
               "2,500, where their one logged run leaves it at 1,500-1,700; left untried: more seeds and their full "
               "30,000 steps (2,500 steps of 2 seeds took 52 min here), which would tell a late escape from a "
               "different model",),
        checks=(Final("lem_T2000", below=2 * 0.0023, examples=125_000),),
        points=(Published("lem_T2000", "loss", tuple((50 * n, v) for n, v in (
            (0, 0.163), (1000, 0.163), (1500, 0.216), (1700, 0.073), (1900, 0.0064), (2000, 0.0046), (2500, 0.0023),
            (5000, 0.0014), (10000, 0.00035), (20000, 7.6e-05), (29900, 5.3e-05))),
            "tk-rusch/LEM src/adding/results/adding_log_seqlength_2000.txt (test MSE every 100 steps), steps "
            "converted at batch 50", baseline=ADDING_BASELINE, label="LEM (their log)"),),
        verdict=Budget.scaled(125_000),
        paper_only=True,
    ),
    Claim(
        name="mnist1d",
        control=Untrained(),
        source="Greydanus & Kobak 2024, MNIST-1D README and notebooks/models.py",
        published="bidirectional GRU, hidden 6, linear head over all 40 outputs, Adam 1e-2, batch 100, 8000 "
                  "steps (800k examples): 91% test accuracy (CNN 94%, MLP 68%, logistic regression 32%)",
        config=mnist1d.Config(),
        setup="as published (plus global-norm clipping 1), 4 seeds; last-state RNN / LSTM / GRU with hidden 32 beside it",
        checks=(Final("gru_bidir_flat", "accuracy", above=0.88, examples=800_000),),
        points=(Published("gru_bidir_flat", "accuracy", ((800_000, 0.91),), "README results table (GRU 91%), "
                          "8000 steps of batch 100", label="GRU (Greydanus & Kobak)"),),
        metric="accuracy",
        figure="accuracy",
    ),
    _sgd_cr_only(at_paper_budget(SGD_CR, steps=336_000, published=SGD_CR_TEXT, checks=(
        Reaches("rnn_clip_global_norm_omega2", "accuracy", above=0.99, examples=6_720_000),))),
    Claim(
        name="newton_predictability",
        direction=True,
        source="Gonzalez et al. 2025, Fig. 2 (code lindermanlab/predictability_enables_parallelization, experiments/fig2.py)",
        published="x_{t+1} = W tanh(x_t) + u_t, W ~ N(0, g²/D) with D = 100, g from 0.5 to 2, T up to 3000, float64, "
                  "DEER to tol 1e-10: the number of Newton iterations to converge stays small while the largest "
                  "Lyapunov exponent is negative and grows towards T when it is positive. The figure's values were "
                  "not read here (no points to draw); the checks read 'small' as at most 5% of T and 'towards T' as "
                  "at least half of T, at T = 1000",
        config=newton_iterations.Config(dim=64, seeds=4),
        setup="their system, sinusoidal inputs, initial state and random initial guess (their code), at D = 64 "
              "instead of 100 and T = 10, 100, 1000 instead of up to 3000, for this CPU; 7 gains from 0.5 to 2, "
              "4 networks each; Newton stops when no state changes by more than 1e-10, theirs when the merit "
              "function (the residual, normalised by T) falls below 1e-10; the exponent is our QR estimate over "
              "1000 steps after 200 warm-up steps",
        checks=(Measured("lyapunov", where={"g": 0.5, "T": 1000}, below=0.0),
                Measured("iterations", where={"g": 0.5, "T": 1000}, below=50),
                Measured("lyapunov", where={"g": 2.0, "T": 1000}, above=0.0),
                Measured("iterations", where={"g": 2.0, "T": 1000}, above=500)),
        figure="iterations",
        verdict="at CPU scale (D = 64, T = 1000)",
    ),
    Claim(
        name="edge_of_chaos",
        source="Engelken, Wolf & Abbott 2023 (code RainerEngelken/RNN-LyapunovSpectra), and the mean-field theory "
               "of random tanh networks they build on",
        published="h_{t+1} = tanh(W h_t), W ~ N(0, g²/N), large N: the largest Lyapunov exponent is below 0 for "
                  "g < 1 and above 0 for g > 1; below g = 1 the state falls to the fixed point 0, whose Jacobian W "
                  "has spectral radius about g, so the exponent is log g. Theory, not a figure: no points to "
                  "draw. The gated cells at their usual initialisations are in the ordered phase (exponents < 0)",
        config=dynamics.Config(adding_steps=0),  # the measurement only; the trained spectra are drawn by default
        setup="the rnn cell with W_hh ~ N(0, g²/N), its other weights zero, no input, h_0 ~ N(0, 1), N = 128, "
              "g in {0.5, 0.8, 1, 1.2, 1.5, 2}; lstm and gru at their default (PyTorch) initialisation, driven by "
              "N(0, 1) inputs of size 4; 4 networks each; the QR method over 1000 steps after 200 steps for the "
              "state and 200 for the frame. Checks at g = 0.5, 0.8, 1.5 and 2, not at g = 1 (the transition, "
              "where a finite network's sign is a coin toss); log 0.5 = -0.69 within 0.1 at g = 0.5",
        checks=(Measured("exponent", where={"cell": "rnn", "g": 0.5, "i": 0}, below=math.log(0.5) + 0.1),
                Measured("exponent", where={"cell": "rnn", "g": 0.5, "i": 0}, above=math.log(0.5) - 0.1),
                Measured("exponent", where={"cell": "rnn", "g": 0.8, "i": 0}, below=0.0),
                Measured("exponent", where={"cell": "rnn", "g": 1.5, "i": 0}, above=0.0),
                Measured("exponent", where={"cell": "rnn", "g": 2.0, "i": 0}, above=0.0),
                Measured("exponent", where={"cell": "lstm", "i": 0}, below=0.0),
                Measured("exponent", where={"cell": "gru", "i": 0}, below=0.0)),
        figure="spectra",
        verdict="at N = 128 (theory: large N)",
    ),
    Claim(
        name="curse_of_memory",
        source="Zucchet & Orvieto 2024, the 1-D case (code NicolasZucchet/Vanishing-and-exploding-gradients-are-not-"
               "the-end-of-the-story, figures/1D-case.ipynb)",
        published="h_{t+1} = λ h_t + x_{t+1}, white unit-variance inputs, t → ∞: E[(dh/dλ)²] = 264, 2.5e5, 2.5e8 at "
                  "λ = 0.9, 0.99, 0.999, exploding as the memory grows although nothing else does; with the input "
                  "normalised by sqrt(1 - λ²) 50, 5,000, 5e5; normalised and with λ = exp(-exp(ν)), the sensitivity "
                  "to ν stays O(1): 0.45, 0.495, 0.4995 (numbers of a closed form, not a curve over training: no "
                  "points to draw; the figure marks them)",
        config=curse_of_memory.Config(),
        setup="our lru cell with one real mode (phase 0, B = 1, D = 0; without γ for the plain case, γ = "
              "sqrt(1 - λ²) held fixed otherwise), white N(0, 1) inputs, 20,000 steps from h = 0, 2,000 sequences "
              "per estimate, 4 estimates; dh/dν by forward-mode autodiff through unroll, dh/dλ = (dh/dν) / "
              "(λ log λ). Each estimate is within 10% of the closed form (about 3x its Monte Carlo error, "
              "sqrt(2/2000) = 3%). The three variants share their input draws, so their errors are equal",
        checks=(*(Measured("error", where={"variant": v, "lam": lam}, below=0.1)
                  for v in ("plain", "exp_exp") for lam in (0.9, 0.99, 0.999)),
                Measured("measured", where={"variant": "plain", "lam": 0.999}, above=1e8),
                Measured("measured", where={"variant": "exp_exp", "lam": 0.999}, below=1.0)),
        figure="sensitivity",
        verdict="paper setting (t → ∞ by 20,000 steps)",
    ),
    Claim(
        name="curse_of_memory_teacher",
        direction=True,
        source="Zucchet & Orvieto 2024, Fig. 3A (code NicolasZucchet/Vanishing-and-exploding-gradients-are-not-the-"
               "end-of-the-story, scans/comparison_architectures_LSI_*.yaml, figures/comparison_architectures_LSI"
               ".ipynb)",
        published="a linear teacher (10 hidden units, eigenvalue moduli in [ν₀, 1), T = 300) learned by a dense "
                  "linear RNN and by an LRU (64 units / modes), Adam with cosine decay, 10,000 steps of batch 128 "
                  "(1.28M sequences), 10 seeds, the best of five learning rates per ν₀: on a log axis the dense "
                  "RNN's final loss rises by orders of magnitude from ν₀ = 0.36 to 0.99, the LRU's does not. The "
                  "figure's values are not stored here (no points to draw): the checks state 'orders of magnitude' "
                  "as at least 100x and 'does not' as at most 10x, fixed before our run",
        config=linear_teacher.Config(),
        setup="scaled to this CPU (see experiments/linear_teacher.py): 3,000 steps of batch 32 (96k sequences, "
              "7.5% of theirs), 3 seeds, ν₀ ∈ {0.36, 0.84, 0.96, 0.99} (four of their seven), learning rates "
              "from their grids (RNN 1e-4, 3.2e-4, 1e-3, 3.2e-3: a first run's best, 1e-3, was the top of a "
              "three-rate grid; LRU 0.01, 0.032, 0.1), the best by the mean over seeds as theirs. Our dense RNN's W_hh is a circular law of radius tanh 1 "
              "(theirs moves the moduli of one to tanh|l|); both students read out through a linear head; the "
              "teacher is another draw of their distribution; the loss is the MSE, twice theirs",
        checks=(Measured("rise", where={"student": "rnn", "nu0": 0.99}, above=100.0),
                Measured("rise", where={"student": "lru", "nu0": 0.99}, below=10.0),
                Measured("over_rnn", where={"student": "lru", "nu0": 0.99}, below=1.0)),
        figure="students",
        verdict=Budget.scaled(96_000),
    ),
    Claim(
        name="mean_field_timescale",
        direction=True,
        source="Chen, Pennington & Schoenholz 2018, ICML, abstract (the mean-field χ of Schoenholz et al. 2017 "
               "applied to a tanh RNN)",
        published="'Our theory allows us to define a maximum timescale over which RNNs can remember an input. We "
                  "show that this theory predicts trainability' (abstract). The paper's formulas, figures and the "
                  "multiple of the timescale could not be read here (no points to draw): the checks are ours, "
                  "fixed before our run. The predicted per-step factor χ of ‖∂L/∂h_t‖² is measured on the same "
                  "networks at initialisation (|log χ measured - log χ| ≤ 0.1), and the longest trainable T "
                  "divided by |ξ| is one constant c across σ_w to within a factor 4 (largest c / smallest c ≤ 4 "
                  "in each seed, over the σ_w whose boundary lies inside the grid)",
        config=mean_field.Config(),
        setup="see experiments/mean_field.py: tanh RNN, N = 128, W_hh ~ N(0, σ_w²/N) for σ_w = 0.5 … 2 (step "
              "0.25), W_ih ~ N(0, 1/64), no biases; task first_input (the sign of a ±1 at t = 0, N(0, 1) noise on "
              "64 more channels, so every unit's input term has variance near σ_x² = 1 as the mean field assumes) "
              "at T = 2, 4 … 64; Adam 1e-3, clip 1, batch 32, 1,000 "
              "steps, 3 seeds; trainable: held-out accuracy ≥ 0.9; log χ measured over 30 steps of the T = 64 "
              "runs at initialisation",
        checks=(*(Measured("chi_error", where={"sigma_w": s}, below=0.1) for s in (0.5, 1.25, 2.0)),
                Measured("c_spread", below=4.0)),
        figure="trainability",
        verdict="our setup (the paper's could not be read)",
    ),
    Claim(
        name="gradient_flossing",
        direction=True,
        control=Contrast({"rnn_flossing": "rnn", "rnn": "rnn_flossing"}),
        source="Engelken 2023, NeurIPS (code RainerEngelken/GradientFlossing, README and GradientFlossing_ExampleCode.jl)",
        published="'RNN training can be improved by pushing Lyapunov exponents of the forward pass to zero during or "
                  "before training' (their README); their example trains a tanh RNN on delayed XOR (d = 10, T = 300) "
                  "with flossing before and during training. The paper's success rates against the delay could not "
                  "be read here (no points to draw): the check is the direction the README states, at the example's "
                  "setup, with a held-out accuracy higher with flossing than without for at least 6 of 8 seeds",
        config=gradient_flossing.Config(),
        setup="their example (see experiments/gradient_flossing.py): N = 80, J ~ N(0, 1/N), input weights N(0, 1), "
              "batch 16, Adam 1e-3, global-norm clipping 0.03; flossing 75 exponents towards 0 on 55-step "
              "sequences, 50 steps before training and 50 before steps 10 and 20; 8 seeds, each from the same "
              "initialisation with and without flossing. Ours reads out h = tanh(x) where theirs reads x, starts "
              "from h = 0 where theirs learns the initial state, runs 300 steps for their 301, and starts each "
              "flossing episode with a fresh Adam state",
        checks=(Beats("rnn_flossing", "rnn", "accuracy", higher=True, examples=4_800),),
        metric="accuracy",
        figure="accuracy",
        verdict="their example's budget (300 steps of batch 16)",
    ),
    Claim(
        name="uoro_beyond_truncation",
        direction=True,
        control=Contrast({"gru_uoro_lag32": "gru_tbptt_lag32", "gru_tbptt_lag32": "gru_uoro_lag32"}),
        source="Tallec & Ollivier 2018, ICLR, abstract (Unbiased Online Recurrent Optimization)",
        published="'UORO provides unbiased gradient estimates' where truncated BPTT's are biased, 'leading to "
                  "possible divergence'; 'on synthetic tasks where truncated BPTT is shown to diverge, UORO "
                  "converges'. The paper's curves could not be read here (no points to draw): the check is the "
                  "direction the abstract states, for a dependency longer than the truncation span, with a "
                  "held-out accuracy higher with UORO than with truncated BPTT for at least 3 of 4 seeds",
        config=credit_assignment.Config(cells=("gru",), rules=("tbptt", "uoro"), lags=(32,)),
        quick={"seq_len": 40},
        setup="our echo task (a cue bit recalled exactly 32 steps later; rnn_jax.tasks.Echo) in place of their "
              "influence-balancing task, a GRU of 8 units, sequences of 64 steps as streams of windows of 8 with "
              "one Adam (3e-3) update per window, batch 32, 600 steps (19,200 sequences) per seed, 4 seeds; truncated BPTT "
              "cuts the gradient at each window, UORO carries its rank-one influence across windows",
        checks=(Beats("gru_uoro_lag32", "gru_tbptt_lag32", "accuracy", higher=True),),
        metric="accuracy",
        figure="learning_curves",
        verdict=Budget.scaled(19_200),
    ),
    Claim(
        name="snap1_beats_uoro",
        direction=True,
        control=Contrast({"gru_snap1_lag32": "gru_uoro_lag32", "gru_uoro_lag32": "gru_snap1_lag32"}),
        source="Menick, Elsen, Evci, Osindero, Simonyan & Graves 2021, ICLR, abstract (SnAp)",
        published="SnAp-1 'is no more expensive than backpropagation but allows training on arbitrarily long "
                  "sequences', and 'substantially outperforms other RTRL approximations with comparable costs "
                  "such as Unbiased Online Recurrent Optimization'. Their copy-task curriculum figure could not "
                  "be read here (only the abstract and opening are stored; no points to draw): the check is the "
                  "direction the abstract states, a held-out accuracy higher with SnAp-1 than with UORO for at "
                  "least 3 of 4 seeds",
        config=credit_assignment.Config(cells=("gru",), rules=("uoro", "snap1"), lags=(32,)),
        quick={"seq_len": 40},
        setup="our echo task at lag 32 in place of their copy curriculum, a dense GRU of 8 units (theirs were "
              "larger and sparse), streams of 64 steps in windows of 8, one Adam (3e-3) update per window, batch "
              "32, 600 steps (19,200 sequences) per seed, 4 seeds. Our SnAp-1 zeroes the dropped entries of the dense influence "
              "matrix: SnAp-1's values at RTRL's cost",
        checks=(Beats("gru_snap1_lag32", "gru_uoro_lag32", "accuracy", higher=True),),
        metric="accuracy",
        figure="learning_curves",
        verdict=Budget.scaled(19_200),
    ),
    Claim(
        name="online_lru",
        direction=True,
        control=Contrast({"lru_diagonal_lag32": "lru_tbptt_lag32"}),
        source="Zucchet, Meier, Schug, Mujika & Sacramento 2023, NeurIPS, abstract; code "
               "NicolasZucchet/Online-learning-LR-dependencies (tests/test_rec.py)",
        published="their online rule for independent (diagonal) recurrent modules 'performs competitively' with "
                  "BPTT on synthetic memory problems; their test shows that for one LRU layer it computes BPTT's "
                  "gradient (test_online_full; test_toy works one by hand, which tests/test_credit.py "
                  "reproduces). Their copy-task table could not be read here (no points to draw): the check is "
                  "that the online LRU solves a dependency longer than its update window, final held-out "
                  "accuracy >= 0.95 for at least 3 of 4 seeds",
        config=credit_assignment.Config(cells=("lru",), rules=("bptt", "diagonal", "tbptt"), lags=(32,)),
        quick={"seq_len": 40},
        setup="one LRU layer of 4 complex modes (hidden 8) on our echo task at lag 32 in place of their "
              "4-layer LRU with GLUs on copy (their multi-layer rule adds spatial backpropagation, not built "
              "here), streams of 64 steps in windows of 8 with one Adam (3e-3) update per window, batch 32, 600 "
              "steps (19,200 sequences) per seed, 4 seeds; full BPTT beside it, and BPTT truncated at the window "
              "as the control. An earlier report found truncated BPTT solving the task too (the LRU's slow modes "
              "hold the bit at initialisation), so the control reads the check on it: if it passes as well, the "
              "check does not separate the rules and the claim does not hold",
        checks=(Final("lru_diagonal_lag32", metric="accuracy", above=0.95),),
        metric="accuracy",
        figure="learning_curves",
        verdict=Budget.scaled(19_200),
    ),
    Claim(
        name="clipping",
        direction=True,
        control=Contrast({"rnn_clip_none": "rnn_clip_global_norm", "rnn_clip_global_norm": "rnn_clip_none"}),
        source="Pascanu, Mikolov & Bengio 2013, §3.2 and Algorithm 1",
        published="norm clipping (threshold 1) keeps the step bounded when the gradient explodes, so training "
                  "does not diverge where unclipped SGD does; the paper argues this and shows no curve of it "
                  "(no points to draw). It does not claim that clipping alone solves long lags: that is its "
                  "regulariser Ω, after ~1e5-1e6 iterations",
        config=clipping.Config(seq_len=10, recurrent_scale=1.5, learning_rates=(0.03, 0.1, 0.3, 1.0),
                               modes=("none", "global_norm")),
        quick={"learning_rates": (0.3, 1.0)},
        setup="adding problem T = 10, hidden 64, W_hh gain 1.5 at init (a spectral radius above 1 invites "
              "explosion), SGD, batch 32, 1000 steps, 4 seeds. The checks read learning rate 0.3, the smallest of "
              "the sweep at which the unclipped runs diverged in a pilot run; *diverged* is a final loss >= 10 x "
              "baseline (or non-finite)",
        checks=(Final("rnn_clip_none", above=10, relative_to_baseline=True, where={"learning_rate": 0.3}),
                Final("rnn_clip_global_norm", below=10, relative_to_baseline=True, where={"learning_rate": 0.3})),
        figure="loss_vs_learning_rate",
        verdict=Budget.scaled(32_000),
    ),
)


NOT_RUN: tuple[tuple[str, str, str], ...] = (
    ("Le, Jaitly & Hinton 2015, Fig. 2 (IRNN adding, T = 150…400)",
     "as quoted by Arjovsky et al. 2016 §4.2: their tanh RNN solved T = 150 and the IRNN T = 300, 'but they require "
     "over a million iterations before they start learning'",
     "the paper's adding section and Fig. 2 cannot be read here (only its opening is stored), and its learning rate "
     "and clipping threshold were chosen per run by a grid search whose winners we do not know; we state no claim "
     "rather than guess a setup. Arjovsky et al.'s negative finding at their own setup is adding_arjovsky"),
    ("Bai, Kolter & Koltun 2018, Table 1 (adding T = 600: GRU 5.3e-5, LSTM 0.164, tanh RNN 0.177)",
     "final MSE after their training budget",
     "their budget and optimiser settings for the recurrent baselines were not read here, so the numbers have no "
     "budget to compare ours at; the earlier suite compared them with a run of another setup"),
    ("Lezcano-Casado & Martínez-Rubio 2019, copying L = 1000 and 2000 (expRNN's own setup)",
     "hidden 190, batch 128, 4000 iterations, RMSprop lr 2e-4 with lr_orth 2e-5 on A (--lr-scales a 0.1)",
     "1020 steps of hidden 190 at batch 128 for 4000 iterations: from copy_memory_exprnn's measured rate, several "
     "hours per seed on this CPU"),
    ("Helfrich, Willmott & Ye 2018, copying T = 1000 (scoRNN; code SpartinStuff/scoRNN scoRNN_copying.py)",
     "their script's setup: hidden 190 with 95 eigenvalues -1 in D, RMSProp 1e-3 and 1e-4 on A, batch 20, 10,000 "
     "iterations on a fixed set of 20,000 sequences",
     "the paper's copying figure cannot be read here (only its abstract is stored, and the code prints no results), "
     "so there are no published points to check against; the cell's parity with their code is tested"),
    ("Rusch & Mishra 2021, adding T = 500, 2000, 5000 (coRNN; code tk-rusch/coRNN adding/)",
     "test MSE against steps for coRNN and its baselines",
     "the paper's figure and its per-length hyperparameters (Δt, γ, ε) cannot be read here (only its abstract is "
     "stored; the script's defaults are one setting), so there are no points or setup to check against; the "
     "cell's parity with their code is tested"),
    ("Chang, Chen, Haber & Chi 2019 (AntisymmetricRNN)",
     "pixel-by-pixel MNIST, permuted MNIST and CIFAR-10",
     "their long-range tasks need downloaded datasets, and no code of theirs is public to fix a setup"),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Run every published claim (or --only some), check each from its runs, and write the
    table of published against measured values to docs/reproductions.md."""

    run_dir: str = "runs/reproduce"
    """Where each claim's runs go (RUN_DIR/NAME); rerunning reuses finished runs."""
    only: tuple[str, ...] = ()
    """Claims to run (default: every claim of the default suite, or with --paper every
    --paper claim); names in the list printed by a bad name. The report still lists the
    others whose runs exist."""
    paper: bool = False
    """Run the claims whose source's budget is longer than the default suite spends, at that
    full budget (hours on 2 cores; interrupted runs resume)."""
    quick: bool = False
    """A tiny version of each claim (each experiment's --quick preset): checks the machinery, not the science."""
    doc: str = ""
    """The report to write (default: docs/reproductions.md; with --quick, RUN_DIR/reproductions.md)."""
    progress: bool = True
    """Show progress bars."""


def selected(names: tuple[str, ...], *, paper: bool = False) -> list[Claim]:
    """The claims named (any of :data:`CLAIMS`), else the default suite (``paper``: the
    ``paper_only`` claims)."""
    known = {c.name: c for c in CLAIMS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--only {' '.join(unknown)}: expected claim names among {', '.join(known)}")
    return [known[n] for n in names] if names else [c for c in CLAIMS if c.paper_only == paper]


def experiment_config(claim: Claim, run_dir: str, *, quick: bool = False, progress: bool = False):
    """The claim's experiment module and Config, run into ``run_dir``: what its command line
    (:meth:`Claim.command`) parses to, with --no-progress unless ``progress``."""
    cfg = dataclasses.replace(claim.config, run_dir=run_dir, progress=progress)
    if quick:
        cfg = dataclasses.replace(cfg, quick=True)
        cfg = dataclasses.replace(cfg.with_preset() if isinstance(cfg, _common.Common) else cfg, **claim.quick)
    return importlib.import_module(f"experiments.{claim.experiment}"), cfg


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
        module = importlib.import_module(f"experiments.{claim.experiment}")
        if hasattr(module, "load"):  # an experiment that measures rather than trains keeps its own table
            res = module.load(directory)
        else:
            res = results.load(rundir.read_experiment(directory)["run_dirs"])
        seconds, day = stored["seconds"], stored.get("date", "")
    else:
        module, cfg = experiment_config(claim, directory, quick=quick, progress=progress)
        print(f"=== {claim.name}: {command}", flush=True)
        start = time.perf_counter()
        res = module.main(cfg)
        seconds, day = time.perf_counter() - start, datetime.date.today().isoformat()
        if stored.get("command") == command:  # the runs were trained before: report that wall time and day
            seconds, day = stored["seconds"], stored.get("date", "")
        rundir.save_json(os.path.join(directory, "reproduce.json"), {"command": command, "seconds": seconds, "date": day})
    outcomes = claim.evaluate(res, at_end=quick)
    control = claim.evaluate_control(res, at_end=quick)
    figures = []
    if claim.points:  # ours against the published points, on examples seen
        figures.append(plots.save(claim.draw(res), rundir.figures_dir(directory), "against_published")[0])
    if claim.figure:  # the experiment's own figure of the claim
        path = os.path.join(rundir.figures_dir(directory), f"{claim.figure}.png")
        figures += [path] if os.path.exists(path) else []
    return {"claim": claim, "command": command, "seconds": seconds, "date": day, "outcomes": outcomes,
            "published": claim.evaluate_published() if claim.points else None,
            "control": control, "holds": claims.holds(outcomes, control), "pictures": figures}


def _verdict(record: dict) -> str:
    if record["holds"]:
        return "direction holds" if record["claim"].direction else "holds at the published value"
    if claims.holds(record["outcomes"]):
        return "**does not hold**: its control passes every check too"
    return "**does not hold**"


def _published_table(claim: Claim) -> list[str]:
    lines = ["| curve (our run) | metric | published points (examples: value) | where from |", "|---|---|---|---|"]
    for p in claim.points:
        values = ", ".join(f"{claims.fmt_examples(n)}: {claims.fmt(v)}" for n, v in p.points)
        lines.append(f"| {p.label or p.run} ({p.run}) | {p.metric} | {values} | {p.source} |")
    return lines


def report(records: list[dict], doc: str, *, quick: bool) -> str:
    """Writes the markdown report (and copies each claim's figure beside it); returns its text."""
    figures = os.path.join(os.path.dirname(os.path.abspath(doc)), "reproductions")
    os.makedirs(figures, exist_ok=True)
    env = rundir.environment()
    lines = [
        "# Reproductions",
        "",
        "Written by `python -m experiments.reproduce" + (" --quick" if quick else "") + "` on "
        f"{datetime.date.today().isoformat()} ({env['platform']}, {env['cpus']} CPU cores, "
        + ", ".join(f"{name} {env['versions'][name]}" for name in ("jax", "jaxlib", "optax", "numpy"))
        + "; each run directory's config.json records its own versions, and requirements.lock pins them). "
        "Each claim states what its source shows and at which budget, in training examples seen (steps × batch "
        "size). Its checks compare our runs with the source at that budget, each threshold fixed before the runs unless its section "
        "says it was set later from the source. "
        + _promise(records) + " A check holds when at least 3/4 of the seeds pass it, a claim when all its checks "
        "hold and its control does not pass them all: each claim that trains names a control, the same runs "
        "untrained (step 0) or the contrasting model the source draws read in its place, and each section shows "
        "the control's value beside ours. *paper budget*: the source's own budget; *at N examples*: a scaled budget, checked against the "
        "source's curve at N. Claims marked --paper run with `python -m experiments.reproduce --paper`. A gradient "
        "norm that underflowed to 0 counts as the smallest float32, so its decades are a lower bound (about 45). "
        "Wall times are those of the run that trained the claim on this machine, which may have been running "
        "other work at the same time. "
        f"Total wall time: {sum(r['seconds'] for r in records) / 60:.1f} min, the sum of the rows.",
        "",
        _counts(records),
        "",
        "| claim | the source shows | ours, at the same budget | budget | verdict | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        claim = r["claim"]
        shown = _summary_outcomes(r["outcomes"])
        ours = "; ".join(f"{o.text}: {o.summary()}" + ("" if o.holds else " (fails)") for o in shown)
        ours += f"; … ({len(r['outcomes'])} checks)" if len(shown) < len(r["outcomes"]) else ""
        kind = claim.verdict + (" (--paper)" if claim.paper_only else "")
        lines.append(f"| [{claim.name}](#{_anchor(claim.name).lower()}) ({claim.source}) | {claim.published} | "
                     f"{ours} | {kind} | {_verdict(r)} | {r['seconds'] / 60:.1f} min |")
    for r in records:
        claim = r["claim"]
        lines += ["", f"## {_anchor(claim.name)}", "", f"**{claim.source}.** {claim.published}.", "",
                  f"Setup: {claim.setup}.", "", f"Budget: {claim.verdict}.", "",
                  *([f"Thresholds: {claim.thresholds}.", ""] if claim.thresholds else []),
                  *(["Differences from the source tried, one at a time:", "",
                     *(f"- {t}" for t in claim.tried), ""] if claim.tried else []),
                  f"Command: `{' '.join(claim.command(os.path.join(Config.run_dir, claim.name), quick=quick))}` "
                  f"({r['seconds']:.0f} s" + (f", run on {r['date']}" if r.get("date") else "") + ").", ""]
        lines += _published_table(claim) if claim.points else ["The source gives no points to compare with."]
        published = r["published"] or [None] * len(r["outcomes"])
        control = r.get("control") or [None] * len(r["outcomes"])
        lines += ["", f"Control: {claim.control or 'none (a measurement, not a training run)'}.", "",
                  "| check | published | ours: mean ± std over seeds (seeds passing) | needed | holds | control |",
                  "|---|---|---|---|---|---|"]
        for o, p, c in zip(r["outcomes"], published, control):
            paper = "—" if p is None else f"{claims.fmt(next(iter(p.values.values())))} ({'passes' if p.holds else 'fails'})" if p.values else "no point"
            shown = "—" if c is None else f"{c.summary()}: {'passes' if c.holds else 'fails'}"
            lines.append(f"| {o.text} | {paper} | {o.summary()} | {o.needed}/{o.seeds} | {'yes' if o.holds else 'no'} | "
                         f"{shown} |")
        for i, figure in enumerate(r["pictures"]):
            name = claim.name + ("" if i == 0 else f"_{os.path.splitext(os.path.basename(figure))[0]}")
            shutil.copyfile(figure, os.path.join(figures, f"{name}.png"))
            lines += ["", f"![{name}](reproductions/{name}.png)"]
        verdict = _verdict(r)
        lines += ["", f"Verdict ({claim.verdict}): {verdict if verdict.startswith('**') else f'**{verdict}**'}."]
    lines += ["", "## Not run", "", "| source | what it reports | why it is not a claim here |", "|---|---|---|"]
    lines += [f"| {source} | {what} | {why} |" for source, what, why in NOT_RUN]
    reported = {r["claim"].name for r in records}
    lines += [f"| {c.source} (`{c.name}`, --paper) | {c.published} | {c.not_run} |" for c in CLAIMS
              if c.not_run and c.name not in reported]
    text = "\n".join(lines) + "\n"
    with open(doc, "w") as f:
        f.write(text)
    return text


def _counts(records: list[dict]) -> str:
    """How many claims hold at the published value, hold in direction, and do not hold."""
    verdicts = [_verdict(r) for r in records]
    kinds = {"hold at the published value": verdicts.count("holds at the published value"),
             "hold in direction only (the source states no value)": verdicts.count("direction holds")}
    kinds["do not hold"] = len(verdicts) - sum(kinds.values())
    return f"Of {len(records)} claims run: " + "; ".join(f"{n} {kind}" for kind, n in kinds.items()) + "."


def _promise(records: list[dict]) -> str:
    """What the checks promise about the published points, for the claims that have them."""
    with_points = sum(1 for r in records if r["claim"].points)
    without = len(records) - with_points
    text = (f"For the {with_points} claims with published points, every check is written so that those points pass "
            "it (the *published* column reads the check off them).")
    if without:
        text += (f" The other {without} give no points to read a check off: their thresholds are stated in their "
                 "sections.")
    return text


def _summary_outcomes(outcomes: list) -> list:
    """The checks a summary row shows: every failing one, then passing ones up to three in all."""
    failing = [o for o in outcomes if not o.holds]
    passing = [o for o in outcomes if o.holds]
    return failing + passing[:max(0, 3 - len(failing))]


def _anchor(name: str) -> str:
    """The heading (and anchor) of a claim's section in the report."""
    return name.replace("_", "-")


def pages(text: str) -> dict[str, str]:
    """The report :func:`report` wrote, split for the documentation site: ``"index"`` (the
    introduction, the table of every claim and what was not run) and a page per claim, by
    name. Links and figure paths are rewritten for pages that live in ``reproductions/``."""
    sections = re.split(r"^## ", text, flags=re.M)
    names = {_anchor(c.name): c.name for c in CLAIMS}
    index, claim_pages = sections[0], {}
    for section in sections[1:]:
        heading, _, body = section.partition("\n")
        if heading in names:
            body = body.replace("](reproductions/", "](")
            claim_pages[names[heading]] = f"# {names[heading]}\n{body}"
        else:
            index += f"## {section}"
    for anchor, name in names.items():
        index = index.replace(f"](#{anchor.lower()})", f"]({name}.md)")
    return {"index": index.replace("](reproductions/", "]("), **claim_pages}


def main(cfg: Config) -> list[dict]:
    chosen = selected(cfg.only, paper=cfg.paper)
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

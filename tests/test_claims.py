"""Published claims as data: each check's verdict is computed from the runs it names at its
budget, every claim's source passes its own checks, and the suite's commands exist and parse
(the runs themselves: tests/test_reproduce.py, slow)."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from experiments.claims import (Beats, CarriesFurther, Claim, Contrast, Decay, Final, Measured, Published, Reaches,
                               Untrained, fmt, holds)
from rnn_jax.io.results import Results

BASELINE = 1 / 6


def _results(final_losses: dict[str, list[float]], decades: dict[str, list[float]] | None = None) -> Results:
    """Results with one run per entry: seeds 0..n-1, a final loss per seed (step 10, batch 2:
    20 examples), and gradient norms falling ``decades`` from t = 9 back to t = 0 at step 0."""
    runs, members, evals, grads = [], [], [], []
    for run, losses in final_losses.items():
        runs.append({"run": run, "cell": run.split("_")[0], "baseline_loss": BASELINE, "success_metric": "accuracy",
                     "batch_size": 2})
        for m, loss in enumerate(losses):
            members.append({"run": run, "member": m, "seed": m, "learning_rate": 1e-3})
            evals += [{"run": run, "member": m, "step": s, "metric": "loss", "value": v} for s, v in ((0, 1.0), (10, loss))]
            for t in range(10):
                fall = (decades or {}).get(run, [0.0] * len(losses))[m]
                grads.append({"run": run, "member": m, "step": 0, "layer": 0, "t": t, "value": 10.0 ** (-fall * (9 - t) / 9)})
    frame = pd.DataFrame
    return Results(frame(runs), frame(members), frame(), frame(evals), frame(grads), frame(), frame(), frame(), frame(),
                   frame())


def test_final_counts_seeds_against_a_threshold_relative_to_the_baseline():
    res = _results({"lstm_T100": [0.01, 0.02, 0.09, 0.16]})  # 0.5 x baseline = 0.0833
    outcome = Final("lstm_T100", below=0.5, relative_to_baseline=True).evaluate(res)
    assert outcome.values == {0: 0.01, 1: 0.02, 2: 0.09, 3: 0.16}
    assert (outcome.passed, outcome.needed, outcome.holds) == (2, 3, False)  # 3 of 4 needed
    assert "0.5 × baseline (0.0833)" in outcome.text and "2/4 seeds" in outcome.summary()
    assert Final("lstm_T100", above=0.05).evaluate(res).passed == 2
    assert Final("lstm_T100", below=0.1, share=0.5).evaluate(res).holds  # 3 of 4 pass, 2 needed


def test_a_threshold_near_1_is_written_with_the_digits_that_tell_it_from_1():
    """Table 7's 1 wrong of 2560 is 0.9996, not "1"; other numbers keep 3 digits."""
    assert [fmt(x) for x in (2559 / 2560, 0.998, 0.0179, 150.4, 1e-5)] == ["0.9996", "0.998", "0.0179", "150", "1.00e-05"]
    res = _results({"lstm_T100": [1.0, 1.0, 1.0, 0.98]})
    assert Final("lstm_T100", above=2559 / 2560).evaluate(res).text.endswith("≥ 0.9996")


def test_a_check_reads_the_evaluation_at_its_budget_of_examples():
    res = _results({"lstm": [0.01, 0.02, 0.03, 0.04]})  # step 0: loss 1.0; step 10 (20 examples): the values
    assert Final("lstm", above=0.9, examples=0).evaluate(res).passed == 4
    at_end = Final("lstm", below=0.05, examples=20).evaluate(res)
    assert at_end.passed == 4 and "at 20 examples" in at_end.text
    # no evaluation within 5% of 2,000 examples: the run was not trained that far, so it cannot pass
    assert Final("lstm", below=0.05, examples=2000).evaluate(res).summary() == "no runs"


def test_reaches_takes_the_best_value_up_to_the_budget():
    """Their stopping rule: solved the first time the error is below 1%, whatever follows."""
    frame = pd.DataFrame
    accuracy = {0: [0.25, 1.0, 0.3], 1: [0.25, 0.5, 0.995]}  # seed -> at steps 0, 10, 20
    evals = [{"run": "r", "member": m, "step": 10 * i, "metric": "accuracy", "value": v}
             for m, values in accuracy.items() for i, v in enumerate(values)]
    res = Results(frame([{"run": "r", "cell": "rnn", "baseline_loss": 1.0, "batch_size": 2}]),
                  frame([{"run": "r", "member": m, "seed": m} for m in accuracy]), frame(), frame(evals),
                  frame(), frame(), frame(), frame(), frame(), frame())
    assert Reaches("r", above=0.99, examples=40).evaluate(res).values == {0: 1.0, 1: 0.995}
    assert Reaches("r", above=0.99, examples=20).evaluate(res).passed == 1  # seed 1 reaches it later
    published = Published("r", "accuracy", ((20, 0.5), (40, 1.0)), "log")
    assert Claim("c", "s", "p", _config("clipping"), "", (Reaches("r", examples=40),), points=(published,)
                 ).evaluate_published()[0].holds


def test_a_check_on_a_run_that_does_not_exist_does_not_hold():
    outcome = Final("gru_T400", below=0.5).evaluate(_results({"gru_T100": [0.0]}))
    assert outcome.seeds == 0 and not outcome.holds and outcome.summary() == "no runs"


def test_paired_checks_compare_the_same_seed():
    res = _results({"irnn": [0.01, 0.20, 0.02, 0.03], "rnn": [0.17, 0.17, 0.17, 0.17]},
                   decades={"irnn": [1, 1, 1, 5], "rnn": [4, 4, 4, 4]})
    beats = Beats("irnn", "rnn").evaluate(res)
    assert beats.passed == 3 and beats.holds
    np.testing.assert_allclose(beats.values[1], 0.03)
    further = CarriesFurther("irnn", "rnn", examples=0).evaluate(res)
    assert further.passed == 3 and math.isclose(further.values[3], -1.0, abs_tol=1e-9)


def test_decay_measures_decades_from_the_last_step_back_to_the_first():
    res = _results({"rnn": [0.17, 0.17, 0.17]}, decades={"rnn": [20.0, 3.0, 400.0]})
    outcome = Decay("rnn", 0, at_least=4).evaluate(res)
    # the third seed's first-step norm underflows to 0: counted as the smallest float32
    np.testing.assert_allclose([outcome.values[0], outcome.values[1], outcome.values[2]], [20.0, 3.0, 44.85], atol=0.01)
    assert outcome.passed == 2 and not outcome.holds


def test_a_claim_holds_only_when_every_check_does():
    res = _results({"lstm": [0.01, 0.01, 0.01, 0.01], "rnn": [0.17] * 4})
    claim = Claim("c", "s", "p", _config("adding_problem"), "setup",
                  (Final("lstm", below=0.5, relative_to_baseline=True), Final("rnn", above=0.9, relative_to_baseline=True)))
    assert holds(claim.evaluate(res))
    strict = claim.checks + (Final("rnn", below=0.1),)
    assert not holds([c.evaluate(res) for c in strict])
    with pytest.raises(ValueError, match="exactly one of below= and above="):
        Final("rnn")


def test_a_claim_that_its_control_also_passes_does_not_hold():
    """The untrained network (step 0: loss 1.0 in these runs) fails "learned", passes "stays
    above 0.9"; a contrast reads each check on the other run. A claim holds only when its
    control fails at least one of its checks."""
    res = _results({"lstm": [0.01] * 4, "rnn": [0.95] * 4})
    learned = Final("lstm", below=0.5, relative_to_baseline=True)
    stays = Final("rnn", above=0.9)
    untrained = Claim("c", "s", "p", _config("adding_problem"), "", (learned, stays), control=Untrained())
    control = untrained.evaluate_control(res)
    assert [c.holds for c in control] == [False, True] and control[0].values == {s: 1.0 for s in range(4)}
    assert holds(untrained.evaluate(res), control)
    only_stays = dataclasses.replace(untrained, checks=(stays,))  # a model that learned nothing passes it
    assert not holds(only_stays.evaluate(res), only_stays.evaluate_control(res))
    swap = dataclasses.replace(untrained, control=Contrast({"lstm": "rnn", "rnn": "lstm"}))
    assert [c.holds for c in swap.evaluate_control(res)] == [False, False]
    same = dataclasses.replace(swap, control=Contrast({"rnn": "rnn"}), checks=(stays,))
    assert not holds(same.evaluate(res), same.evaluate_control(res))


def test_every_claim_that_trains_names_a_control():
    from experiments import reproduce

    for claim in reproduce.CLAIMS:
        measures = any(isinstance(c, Measured) for c in claim.checks)
        assert (claim.control is None) == measures, claim.name
        runs = {getattr(c, "run", None) for c in claim.checks} | {getattr(c, "other", None) for c in claim.checks}
        if isinstance(claim.control, Contrast):
            assert {a for a, _ in claim.control.runs} <= runs, claim.name


def test_published_points_are_read_at_a_budget():
    curve = Published("lstm_T100", "loss", ((50_000, 0.172), (1_000_000, 0.145)), "Fig. 1", baseline=0.173)
    assert curve.at(1_000_000) == 0.145 and curve.at(980_000) == 0.145 and curve.at(None) == 0.145
    assert curve.at(400_000) is None  # no point there: the source says nothing at that budget
    claim = Claim("c", "s", "p", _config("copy_memory"), "setup", (Final("lstm_T100", below=0.95, relative_to_baseline=True,
                                                                    examples=1e6),), points=(curve,))
    (outcome,) = claim.evaluate_published()
    assert outcome.values == {0: 0.145} and outcome.holds  # 0.145 <= 0.95 x 0.173
    with pytest.raises(ValueError, match="increasing order"):
        Published("r", "loss", ((2, 0.1), (1, 0.2)), "Fig. 1")


def test_every_claim_s_source_passes_its_own_checks():
    """A claim whose published points fail its checks states something the source does not show."""
    from experiments import reproduce

    for claim in reproduce.CLAIMS:
        if not claim.points:  # the source shows no points (said in the claim's text)
            assert "no points" in claim.published or "no curve" in claim.published, claim.name
            continue
        outcomes = claim.evaluate_published()
        failing = [o.text for o in outcomes if not o.holds]
        assert not failing, (claim.name, failing)
        checked_runs = {getattr(c, "run") for c in claim.checks} | {getattr(c, "other", None) for c in claim.checks}
        assert {p.run for p in claim.points} >= checked_runs - {None}, claim.name
        for p in claim.points:
            assert p.source and p.metric == claim.metric, (claim.name, p.run)


def _config(experiment: str):
    import importlib

    return importlib.import_module(f"experiments.{experiment}").Config()


def test_a_generated_command_gives_every_kind_of_cell_option():
    from experiments import _cell_options, _common, adding_problem

    cfg = adding_problem.Config(cell_options=_cell_options.of(mingru={"log_space": False}, lem={"dt": 0.5},
                                                              indrnn={"recurrent_init": "near_one"}),
                                first_layer=_cell_options.of(indrnn={"recurrent_init": "uniform"}), head_init="glorot")
    words = _common.argv(cfg)
    assert "--first-layer.indrnn.recurrent-init" in words and "--head-init" in words
    assert _common.parse(adding_problem.Config, words) == cfg


def test_every_claim_command_parses_to_the_claims_config():
    """A claim holds a typed config; the command the report shows is generated from it, and
    the shell would parse that command back into the very config the suite runs."""
    from experiments import _common, reproduce

    names = [c.name for c in reproduce.CLAIMS]
    assert len(names) == len(set(names)) == 25
    assert {c.name for c in reproduce.selected(())} | {c.name for c in reproduce.selected((), paper=True)} == set(names)
    for claim in reproduce.CLAIMS:
        for quick in (False, True):
            module, cfg = reproduce.experiment_config(claim, f"runs/x/{claim.name}", quick=quick)
            assert module.__name__ == f"experiments.{claim.experiment}" and cfg.run_dir == f"runs/x/{claim.name}"
            argv = claim.command(cfg.run_dir, quick=quick)[3:] + ["--no-progress"]
            assert _common.parse(module.Config, argv) == cfg, (claim.name, quick)
            if hasattr(cfg, "steps") and not quick:  # the runner needs whole chunks (found: a suite that stopped)
                assert cfg.steps % cfg.eval_every == 0, (claim.name, cfg.steps, cfg.eval_every)
        assert claim.command("d")[:3] == ["python", "-m", f"experiments.{claim.experiment}"]
    with pytest.raises(ValueError, match="--only nope: expected claim names among gradient_decay"):
        reproduce.selected(("nope",))


def test_a_paper_claim_not_run_here_is_listed_with_its_estimate(tmp_path):
    from experiments import reproduce

    not_run = [c for c in reproduce.CLAIMS if c.not_run]
    assert not_run and all(c.paper_only and " h " in c.not_run for c in not_run)
    text = reproduce.report([], str(tmp_path / "reproductions.md"), quick=False)
    for claim in not_run:
        row = next(line for line in text.splitlines() if f"`{claim.name}`" in line)
        assert claim.not_run in row and claim.published in row


def test_the_report_shows_every_miss_counts_the_promise_and_sums_the_wall_time(tmp_path):
    """A summary row lists every failing check (marked), then passing ones up to three; the
    header's promise about published points counts only the claims that have them; the total
    wall time is the sum of the rows."""
    from experiments import reproduce
    from experiments.claims import Outcome

    with_points = next(c for c in reproduce.CLAIMS if c.points and not c.tried)
    without = next(c for c in reproduce.CLAIMS if not c.points and not c.direction)
    passing = [Outcome(f"passing {i}", {0: 1.0, 1: 1.0}, 2, 0.75) for i in range(3)]
    failing = [Outcome(f"failing {i}", {0: 0.0, 1: 0.0}, 0, 0.75) for i in range(2)]
    records = [{"claim": with_points, "command": "c", "seconds": 90.0, "outcomes": passing + failing, "published": None,
                "holds": False, "pictures": []},
               {"claim": without, "command": "c", "seconds": 30.0, "outcomes": passing[:1], "published": None,
                "holds": True, "pictures": []}]
    text = reproduce.report(records, str(tmp_path / "reproductions.md"), quick=False)
    row = next(line for line in text.splitlines() if line.startswith(f"| [{with_points.name}]"))
    assert "failing 0: 0 ± 0 (0/2 seeds) (fails); failing 1: 0 ± 0 (0/2 seeds) (fails); passing 0:" in row
    assert "passing 1" not in row and "… (5 checks)" in row
    assert "For the 1 claims with published points" in text and "The other 1 give no points" in text
    assert "Total wall time: 2.0 min, the sum of the rows." in text
    assert ("Of 2 claims run: 1 hold at the published value; 0 hold in direction only (the source states no value); "
            "1 do not hold.") in text
    direction = dataclasses.replace(without, direction=True)
    assert reproduce._verdict({**records[1], "claim": direction}) == "direction holds"
    # a miss lists the differences tried; thresholds set after a run say so
    diagnosed = dataclasses.replace(with_points, tried=("the batch: 50, still fails",), thresholds="set later")
    text = reproduce.report([{**records[0], "claim": diagnosed}], str(tmp_path / "diagnosed.md"), quick=False)
    assert "Thresholds: set later.\n\nDifferences from the source tried, one at a time:\n\n- the batch: 50, still fails\n" in text
    assert "Differences from the source tried" not in reproduce.report(records, str(tmp_path / "plain.md"), quick=False)
    assert reproduce._verdict({**records[0], "holds": False}) == "**does not hold**"


def test_a_measured_check_reads_its_setting_or_with_nearest_the_closest_one():
    table = pd.DataFrame({"cell": ["rnn"] * 4 + ["gru"] * 2, "g": [0.5, 0.5, 2.0, 2.0, np.nan, np.nan],
                          "seed": [0, 1, 0, 1, 0, 1], "value": [-0.6, -0.5, 0.1, -0.1, -0.4, -0.3]})
    check = Measured("value", where={"cell": "rnn", "g": 1.5}, above=0.0)
    assert check.evaluate(table).values == {}  # no network at g = 1.5
    assert dataclasses.replace(check, nearest=True).evaluate(table).values == {0: 0.1, 1: -0.1}  # read at g = 2
    assert Measured("value", where={"cell": "gru"}, below=0.0).evaluate(table).passed == 2


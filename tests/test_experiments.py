"""Every experiment's --quick preset runs end to end and writes its figures; the CLIs
reject bad values; figures can be redrawn without retraining."""

import importlib
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import _common

pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

EXPERIMENTS = ["vanishing_gradients", "adding_problem", "copy_memory", "sequential_digits", "clipping", "mnist1d",
               "gradient_flossing", "linear_teacher", "credit_assignment"]
FIGURES = {
    "vanishing_gradients": ["grad_norms", "learning_curves", "spectra", "eigenvalues"],
    "adding_problem": ["success_vs_length", "mse_vs_length"],
    "copy_memory": ["learning_curves", "accuracy"],
    "sequential_digits": ["accuracy", "learning_curves"],
    "clipping": ["learning_curves", "loss_vs_learning_rate"],
    "mnist1d": ["accuracy", "learning_curves"],
    "gradient_flossing": ["accuracy", "learning_curves"],
    "linear_teacher": ["students"],
    "credit_assignment": ["accuracy_vs_lag", "learning_curves", "alignment_vs_lag"],
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_main_experiment_cli_quick_runs_and_resumes(tmp_path):
    run_dir, tb = str(tmp_path / "vg"), tmp_path / "tb"
    first = _cli("experiments.vanishing_gradients", "--quick", "--run-dir", run_dir, "--no-progress",
                 "--tensorboard", str(tb))
    assert first.returncode == 0, first.stderr
    assert f"results: {run_dir}" in first.stdout
    for name in FIGURES["vanishing_gradients"]:
        path = os.path.join(run_dir, "figures", f"{name}.png")
        assert os.path.getsize(path) > 1000, path
        assert not os.path.exists(path[:-3] + "pdf")  # PDF only when asked (--pdf)
    # one TensorBoard run per run and seed (--quick: 2 seeds)
    runs = sorted(os.listdir(tb))
    assert runs and all(sorted(os.listdir(tb / r)) == ["000_seed0", "001_seed1"] for r in runs)
    # the same command again resumes the finished runs instead of retraining
    second = _cli("experiments.vanishing_gradients", "--quick", "--run-dir", run_dir, "--no-progress")
    assert second.returncode == 0, second.stderr
    table = lambda out: out.split("results:")[0].splitlines()[-7:]  # noqa: E731
    assert table(first.stdout) == table(second.stdout)


@pytest.mark.slow  # ~60 s: the main experiment trains the thirteen cells
def test_remedies_are_lines_of_the_main_experiment(tmp_path):
    """--remedies adds every remedy cell to the main experiment's runs, with ‖∂L/∂h_t‖ and
    the eigenvalues recorded for each."""
    from experiments import vanishing_gradients

    res = vanishing_gradients.main(vanishing_gradients.Config(quick=True, remedies=True, run_dir=str(tmp_path),
                                                              progress=False))
    cells = set(res.runs.cell)
    assert set(_common.REMEDIES) <= cells and {"rnn", "lstm", "gru"} <= cells
    assert set(res.grad_norms.merge(res.runs, on="run").cell) == cells
    with_eigenvalues = set(res.eigenvalues.merge(res.runs, on="run").cell)
    assert with_eigenvalues == cells - {"mingru", "minlstm", "cornn"}  # these have no recurrent matrix


@pytest.mark.parametrize("name", ["adding_problem", "copy_memory"])
def test_remedies_are_lines_of_the_comparisons(name, tmp_path, monkeypatch):
    """--remedies gives the comparisons a run of every remedy cell, diagnosed like the others
    (what the runner records for a run is the main experiment's test above)."""
    module = importlib.import_module(f"experiments.{name}")
    handed = {}

    def run_all(experiment, configs, cfg, **options):
        handed.update(configs=dict(configs), options=options)
        raise KeyboardInterrupt  # stop before anything trains

    monkeypatch.setattr(_common, "run_all", run_all)
    with pytest.raises(KeyboardInterrupt):
        module.main(module.Config(quick=True, remedies=True, run_dir=str(tmp_path), progress=False))
    cells = {config.model.cell_name for config in handed["configs"].values()}
    assert cells == set(_common.REMEDIES) | set(module.Config().cells)
    assert handed["options"]["diagnose_at"][0] == 0


@pytest.mark.slow  # ~2 min for the four; CI runs them with `pytest -m slow` on every submission
@pytest.mark.parametrize("name", EXPERIMENTS[1:])
def test_quick_preset_runs_and_writes_figures(name, tmp_path):
    module = importlib.import_module(f"experiments.{name}")
    run_dir = str(tmp_path / name)
    module.main(module.Config(quick=True, run_dir=run_dir, progress=False))
    for figure in FIGURES[name]:
        assert os.path.getsize(os.path.join(run_dir, "figures", f"{figure}.png")) > 1000
    # redraw from the stored results only
    for f in os.listdir(os.path.join(run_dir, "figures")):
        os.unlink(os.path.join(run_dir, "figures", f))
    redrawn = _cli("experiments.figures", "--run-dirs", run_dir, "--pdf")
    assert redrawn.returncode == 0, redrawn.stderr
    assert sorted(os.listdir(os.path.join(run_dir, "figures"))) == sorted(
        f"{fig}.{ext}" for fig in FIGURES[name] for ext in ("png", "pdf"))


@pytest.mark.parametrize("name", EXPERIMENTS + ["figures", "reproduce", "newton_iterations", "dynamics",
                                                "curse_of_memory"])
def test_help_documents_the_common_options(name):
    result = _cli(f"experiments.{name}", "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    expected = {"figures": ["--run-dirs"], "reproduce": ["--quick", "--only", "--paper", "--run-dir", "--doc"],
                "newton_iterations": ["--quick", "--seeds", "--run-dir", "--gains", "--lengths"],
                "dynamics": ["--quick", "--seeds", "--run-dir", "--gains", "--gated", "--hidden-size", "--adding-steps"],
                "curse_of_memory": ["--quick", "--seeds", "--run-dir", "--lambdas", "--batch"]}.get(
        name, ["--quick", "--seeds", "--run-dir", "--tensorboard"])
    for option in expected:
        assert option in result.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--seeds", "0"], "--seeds 0"),
        (["--seeds", "many"], "--seeds"),
        (["--seq-len", "1", "--quick"], "seq_len=1"),
        (["--learning-rate", "-1", "--quick"], "learning_rate"),
        (["--cells", "lstmm", "--quick"], "lstmm"),
    ],
)
def test_bad_cli_values_exit_nonzero_with_a_message(args, message, tmp_path):
    result = _cli("experiments.vanishing_gradients", *args, "--run-dir", str(tmp_path / "x"), "--no-progress", timeout=120)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_quick_preset_fills_only_the_values_not_typed():
    from experiments import _common, vanishing_gradients

    typed = _common.parse(vanishing_gradients.Config, ["--quick", "--seeds", "8", "--hidden-size", "16"])
    # --seeds 8 equals the default but was typed: it stays; the rest comes from the preset
    assert (typed.seeds, typed.hidden_size, typed.steps, typed.seq_len, typed.quick) == (8, 16, 40, 30, False)
    in_code = vanishing_gradients.Config(quick=True, seeds=3).with_preset()
    assert (in_code.seeds, in_code.steps) == (3, 40)
    assert vanishing_gradients.Config().with_preset() == vanishing_gradients.Config()


def test_figures_cli_reports_a_missing_directory_in_one_line(tmp_path):
    result = _cli("experiments.figures", "--run-dirs", str(tmp_path / "none"), timeout=120)
    assert result.returncode == 1
    assert "was not written by an experiment" in result.stderr and "Traceback" not in result.stderr


def test_dynamics_an_ordered_tanh_network_has_the_exponent_of_its_fixed_point():
    """Below g = 1 the state falls to 0, where the step's Jacobian is W: λ₁ = log |largest eigenvalue of W|."""
    from experiments import dynamics

    cfg = dynamics.Config(hidden_size=16, lyapunov_steps=400, warmup=100)
    rows = dynamics.measure(cfg, "rnn", 0.5, seed=0)
    w = dynamics._tanh_network(jax.random.split(jax.random.key(0), 3)[0], 16, 0.5)["w_hh"]
    assert abs(rows[0]["exponent"] - np.log(np.max(np.abs(np.linalg.eigvals(np.asarray(w)))))) < 0.02
    assert [r["i"] for r in rows] == list(range(16)) and rows[0]["exponent"] >= rows[-1]["exponent"]
    with pytest.raises(ValueError, match="gains"):
        dynamics.main(dynamics.Config(gains=(0.0,), run_dir="unused"))


def test_curse_of_memory_closed_forms_are_the_published_numbers_and_autodiff_meets_them():
    from experiments import curse_of_memory as com

    for variant, published in com.PUBLISHED.items():  # Zucchet & Orvieto's notebook, at 2-3 digits
        for lam, value in zip((0.9, 0.99, 0.999), published):
            assert abs(com.closed_form(variant, lam) / value - 1) < 0.01, (variant, lam)
    cfg = com.Config(batch=4000, seq_len=300)
    for variant in com.VARIANTS:  # memory 1/(1 - 0.81): 300 steps are stationary; Monte Carlo error ~2%
        assert com.measure(cfg, variant, 0.9, seed=0)["error"] < 0.08, variant
    with pytest.raises(ValueError, match="lambdas"):
        com.main(com.Config(lambdas=(1.0,), run_dir="unused"))


def test_linear_teacher_reads_each_student_at_its_best_learning_rate_by_the_mean_over_seeds():
    """Their figure's protocol: per student and ν₀, the learning rate whose mean final loss
    over seeds is lowest (a diverged seed is missing, not infinite); rise and over_rnn are
    ratios to the same seed's loss."""
    import pandas as pd

    from experiments import linear_teacher
    from rnn_jax.io import results

    finals = {  # run: {learning_rate: (seed 0, seed 1)}
        "rnn_nu0.5": {1e-3: (2.0, 4.0), 1e-4: (2.5, 2.5)},  # means 3 and 2.5: 1e-4
        "rnn_nu0.9": {1e-3: (np.inf, 100.0), 1e-4: (300.0, 500.0)},  # inf is missing: 1e-3 (mean 100)
        "lru_nu0.5": {0.1: (1.0, 1.0), 0.01: (2.0, 2.0)},
        "lru_nu0.9": {0.1: (3.0, 5.0), 0.01: (4.0, 4.0)},
    }
    member_rows, evals = [], []
    for run, by_lr in finals.items():
        for m, (lr, seed) in enumerate((lr, seed) for lr in by_lr for seed in (0, 1)):
            member_rows.append({"run": run, "member": m, "seed": seed, "learning_rate": lr})
            for step, value in ((0, 1e6), (10, by_lr[lr][seed])):
                evals.append({"run": run, "member": m, "step": step, "metric": "loss", "value": value})

    class Fake:
        runs = pd.DataFrame({"run": list(finals), "baseline_loss": [2.0, 50.0, 2.0, 50.0]})
        eval = pd.DataFrame(evals)

        members = pd.DataFrame(member_rows)
        final = results.Results.final
        with_members = results.Results.with_members

    frame = linear_teacher.table(Fake()).set_index(["student", "nu0", "seed"])
    assert frame.loc[("rnn", 0.5, 0), "learning_rate"] == 1e-4 and frame.loc[("rnn", 0.9, 1), "learning_rate"] == 1e-3
    assert np.isnan(frame.loc[("rnn", 0.9, 0), "loss"]) and frame.loc[("rnn", 0.9, 1), "rise"] == 100.0 / 2.5
    assert frame.loc[("lru", 0.9, 0), "learning_rate"] == 0.01  # means 4 (0.1) and 4 (0.01): the first lowest
    assert frame.loc[("lru", 0.9, 1), "over_rnn"] == 4.0 / 100.0
    assert frame.loc[("lru", 0.9, 0), "relative"] == 4.0 / 50.0


def test_mean_field_reads_chi_from_the_norms_and_bounds_c_where_the_grid_ends():
    """log χ is the per-step change of log ‖∂L/∂h_t‖² going back; t_max is the longest length
    up to which every length was trainable; a σ_w trainable at every length (or none) is
    censored and left out of c_spread."""
    import pandas as pd

    from experiments import mean_field
    from rnn_jax.analysis import mean_field as theory
    from rnn_jax.io import results

    t = np.arange(20)
    norms = np.exp(0.5 * np.log(0.3) * (19 - t))  # ‖g_t‖² = 0.3^(T-1-t)
    assert mean_field.measured_log_chi(norms, fit_steps=10, skip=2) == pytest.approx(np.log(0.3))
    accuracy = {0.5: {2: 0.95, 4: 0.6, 8: 0.55}, 1.0: {2: 0.99, 4: 0.97, 8: 0.8}, 1.5: {2: 1.0, 4: 1.0, 8: 0.99}}
    n, member_rows, evals, grads = 64, [], [], []
    for m, sigma_w in enumerate(accuracy):
        member_rows.append({"run": "", "member": m, "seed": 0, "recurrent_scale": mean_field.recurrent_scale(sigma_w, n)})
    member_rows = [dict(r, run=f"rnn_T{k}") for k in (2, 4, 8) for r in member_rows]
    for m, sigma_w in enumerate(accuracy):
        for k, value in accuracy[sigma_w].items():
            evals.append({"run": f"rnn_T{k}", "member": m, "step": 10, "metric": "accuracy", "value": value})
        chi = theory.tanh_rnn(sigma_w, 0.0, 1.0).chi
        grads += [{"run": "rnn_T8", "member": m, "step": 0, "layer": 0, "t": i,
                   "value": chi ** (0.5 * (7 - i))} for i in range(8)]

    class Fake:
        runs = pd.DataFrame({"run": ["rnn_T2", "rnn_T4", "rnn_T8"], "seq_len": [2, 4, 8], "hidden_size": n})
        members = pd.DataFrame(member_rows)
        eval = pd.DataFrame(evals)
        grad_norms = pd.DataFrame(grads)
        final = results.Results.final
        with_members = results.Results.with_members

    frame = mean_field.table(Fake(), solved=0.9, fit_steps=4, skip=1).set_index("sigma_w")
    assert frame.chi_error.max() < 1e-9
    assert list(frame.t_max) == [2, 4, 8] and list(frame.censored) == [False, False, True]
    c = [2 / theory.tanh_rnn(0.5, 0.0, 1.0).xi, 4 / theory.tanh_rnn(1.0, 0.0, 1.0).xi]
    np.testing.assert_allclose(frame.c_spread, max(c) / min(c))

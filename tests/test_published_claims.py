"""Slow: the main experiment at its default settings reproduces what the README reports.

Run with ``python -m pytest -m slow`` (CI runs it on every submission; about 3 minutes).
"""

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("standard_dtype_promotion")]


def test_vanishing_gradients_defaults_reproduce_the_readme_table(tmp_path):
    from experiments import vanishing_gradients
    from rnn_jax import results

    res = vanishing_gradients.main(vanishing_gradients.Config(run_dir=str(tmp_path / "vg"), progress=False))
    table = results.summary(res, "loss").set_index("cell")
    baseline = 1 / 6
    assert table.loc["gru", "max"] < 0.01 * baseline  # every GRU seed solves T = 100
    assert abs(table.loc["rnn", "mean"] - baseline) < 0.01  # the tanh RNN stays on the baseline
    assert table.loc["lstm", "mean"] > 0.5 * baseline  # the LSTM mostly does too, in this budget
    grads = res.grad_norms[(res.grad_norms.layer == 0)]
    init = grads[grads.step == 0].groupby(["run", "t"]).value.median().unstack()
    assert (init[0] < 1e-10 * init[init.columns.max()]).all()  # vanishing at initialisation, every cell
    final = grads[grads.step == grads.step.max()].groupby(["run", "t"]).value.median().unstack()
    assert final.loc["gru", 0] > 1e-3 * final.loc["gru", final.columns.max()]  # flat after training

"""Slow: the main experiment at its default settings reproduces what docs/getting-started.md reports.

Run with ``python -m pytest -m slow`` (CI runs it on every submission; about 90 seconds).
"""

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("standard_dtype_promotion")]


def test_vanishing_gradients_defaults_reproduce_the_getting_started_table(tmp_path):
    from experiments import vanishing_gradients

    res = vanishing_gradients.main(vanishing_gradients.Config(run_dir=str(tmp_path / "vg"), progress=False))
    final = res.eval[(res.eval.metric == "loss") & (res.eval.step == res.eval.step.max())]
    solved = final[final.value <= 0.3 / 6].groupby("run").member.count().reindex(res.runs.run, fill_value=0)
    baseline = 1 / 6
    # issue 14: with chrono initialisation the LSTM and the GRU leave the baseline in >= 6 of 8 seeds
    assert solved["lstm"] >= 6 and solved["gru"] >= 6
    assert abs(final[final.run == "rnn"].value.mean() - baseline) < 0.01  # the tanh RNN stays on it
    assert solved["lstm_torch_init"] <= 2  # PyTorch's default init, same budget: mostly on the baseline
    grads = res.grad_norms[(res.grad_norms.layer == 0)]
    init = grads[grads.step == 0].groupby(["run", "t"]).value.median().unstack()
    last = init.columns.max()
    for run in ("rnn", "lstm_torch_init"):  # vanishing at initialisation without a remedy
        assert init.loc[run, 0] < 1e-10 * init.loc[run, last]
    for run in ("lstm", "gru"):  # chrono: the keep gates carry the gradient back from the start
        assert init.loc[run, 0] > 1e-6 * init.loc[run, last]
    final = grads[grads.step == grads.step.max()].groupby(["run", "t"]).value.median().unstack()
    assert final.loc["gru", 0] > 1e-3 * final.loc["gru", last]  # flat after training

"""The figures' drawing: what a reader sees of the seeds."""

import numpy as np

from rnn_jax.analysis import plots
from tests.test_claims import _results


def test_an_accuracy_band_stays_within_zero_and_one():
    """Two seeds at 0.3 and 1.0: the t-band of their mean (±12.7 standard errors) would run
    far past both ends; drawn, it is clipped to the values an accuracy can take."""
    results = _results({"lstm_T10": [0.1, 0.1]})
    results.eval.loc[results.eval.step == 10, ["metric", "value"]] = [["accuracy", 0.3], ["accuracy", 1.0]]
    results.eval.loc[results.eval.step == 0, ["metric", "value"]] = [["accuracy", 0.5], ["accuracy", 0.5]]
    fig = plots.learning_curves(results, "accuracy")
    (band,) = fig.axes[0].collections
    ys = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])
    assert ys.min() >= 0.0 and ys.max() <= 1.0 and ys.max() == 1.0


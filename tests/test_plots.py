"""The figures' drawing: what a reader sees of the seeds."""

import os

import numpy as np
import pytest

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



def test_save_writes_png_and_pdf_only_when_asked(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    assert plots.save(fig, tmp_path / "a", "f") == [str(tmp_path / "a" / "f.png")]
    assert sorted(os.listdir(tmp_path / "a")) == ["f.png"]
    with plots.formats("pdf"):
        paths = plots.save(fig, tmp_path / "b", "f")
    assert [os.path.basename(p) for p in paths] == ["f.png", "f.pdf"] and all(os.path.getsize(p) > 500 for p in paths)
    assert plots.save(fig, tmp_path / "c", "f") == [str(tmp_path / "c" / "f.png")]  # the block ended
    with pytest.raises(ValueError, match="expected some of png, pdf, svg"):
        with plots.formats("eps"):
            pass

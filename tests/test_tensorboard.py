"""``runner.run(..., tensorboard=DIR)``: events read back with TensorBoard's own reader.

One TensorBoard run per member with its hyperparameters; the scalars equal the run's own
metrics; a run killed after its last checkpoint and resumed leaves every step once; without
the option nothing is written or imported.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from rnn_jax import tasks  # noqa: E402
from rnn_jax.io.rundir import RunDir  # noqa: E402
from rnn_jax.runner import run  # noqa: E402
from rnn_jax.training import TrainConfig, model_for  # noqa: E402
from rnn_jax.optimizer import Optax  # noqa: E402

TASK = tasks.get("adding", seq_len=6, eval_size=32)
pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

CFG = TrainConfig(model=model_for(TASK, "rnn", 4), task=TASK, steps=4, batch_size=4, eval_every=1,
                  optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)))
RUN = dict(seeds=2, sweep={"learning_rate": [1e-2, 3e-2]}, progress=False, diagnose_at=(0, 2, 4),
           checkpoint_every=2)


def _read(directory):
    """``{tag: [(step, value)]}`` of one TensorBoard run, and the names of its hyperparameters."""
    acc = event_accumulator.EventAccumulator(str(directory), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    plugin = acc.PluginTagToContent("hparams")
    return scalars, plugin


class KilledAt3(RunDir):
    """A process that dies after writing step 3, whose last checkpoint is step 2 (no Ctrl-C save)."""

    def write_status(self, step, *args):
        super().write_status(step, *args)
        if step == 3:
            raise RuntimeError("killed")


def test_one_tensorboard_run_per_member_with_its_metrics_and_no_duplicates_after_resume(tmp_path):
    full = run(CFG, run_dir=tmp_path / "full", tensorboard=tmp_path / "tb_full", **RUN)
    members = sorted(os.listdir(tmp_path / "tb_full"))
    assert members == ["000_seed0_learning_rate0.01", "001_seed1_learning_rate0.01",
                       "002_seed0_learning_rate0.03", "003_seed1_learning_rate0.03"]
    for m, name in enumerate(members):
        scalars, hparams = _read(tmp_path / "tb_full" / name)
        assert [s for s, _ in scalars["train/loss"]] == [1, 2, 3, 4]
        np.testing.assert_allclose([v for _, v in scalars["train/loss"]], full.train["loss"][m], rtol=1e-6)
        assert [s for s, _ in scalars["eval/loss"]] == [0, 1, 2, 3, 4]
        np.testing.assert_allclose([v for _, v in scalars["eval/loss"]], full.eval["loss"][m], rtol=1e-6)
        assert [s for s, _ in scalars["diagnostics/grad_norm_decades"]] == [0, 2, 4]
        assert all(np.isfinite(v) for _, v in scalars["diagnostics/grad_norm_decades"])
        assert "_hparams_/session_start_info" in hparams  # the member's hyperparameters are attached

    with pytest.raises(RuntimeError, match="killed"):
        run(CFG, run_dir=KilledAt3(tmp_path / "resumed"), tensorboard=tmp_path / "tb", **RUN)
    assert json.loads((tmp_path / "resumed" / "status.json").read_text())["step"] == 3
    run(CFG, run_dir=tmp_path / "resumed", tensorboard=tmp_path / "tb", **RUN)  # resumes from step 2
    for name in members:
        resumed, hparams = _read(tmp_path / "tb" / name)
        expected, _ = _read(tmp_path / "tb_full" / name)
        assert resumed.keys() == expected.keys()
        for tag in expected:
            assert [s for s, _ in resumed[tag]] == [s for s, _ in expected[tag]], tag  # each step once
            np.testing.assert_allclose([v for _, v in resumed[tag]], [v for _, v in expected[tag]], rtol=1e-6)
        assert list(hparams) == ["_hparams_/experiment", "_hparams_/session_start_info"]  # written once


def test_without_the_option_nothing_is_written_or_imported(tmp_path):
    code = (f"import sys, os; os.chdir({str(tmp_path)!r}); from rnn_jax import tasks; from rnn_jax.runner import run; "
            "from rnn_jax.training import TrainConfig, model_for; t = tasks.get('adding', seq_len=4, eval_size=8); "
            "run(TrainConfig(model=model_for(t, 'rnn', 2), task=t, steps=1, batch_size=2, eval_every=1), seeds=1, "
            "progress=False, diagnose_at=()); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorboardX', 'tensorboard')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert os.listdir(tmp_path) == []


def test_a_bad_tensorboard_argument_is_refused_before_training():
    with pytest.raises(TypeError, match="tensorboard=3 must be a directory path"):
        run(CFG, seeds=1, tensorboard=3, progress=False)

"""The catalogue of malformed inputs: across the public API and the experiment CLIs, each
is refused before any tracing with a one-line ``ValueError`` / ``TypeError`` (CLI: exit 2
and one ``error:`` line) that names the argument, the value and what is expected.

Each case is ``(id, call, exception, pattern)``; the pattern names the argument and (where
there is one) the value.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import SequenceModel, cells, tasks, unroll
from rnn_jax.training.optim import OptimConfig, ParamGroup
from rnn_jax.runner import run
from rnn_jax.tasks import ArrayTask
from rnn_jax.training import TrainConfig, model_for

KEY = jax.random.key(0)
LSTM = cells.get("lstm")
PARAMS = LSTM.init(KEY, 3, 4)
XS = jnp.ones((2, 5, 3))
ADDING = tasks.get("adding", seq_len=10, eval_size=16)
GOOD_X = np.random.default_rng(0).normal(size=(20, 6, 2)).astype(np.float32)
GOOD_Y = np.random.default_rng(1).normal(size=(20, 1)).astype(np.float32)


def _cfg(**kw):
    options = dict(model=model_for(ADDING, "gru", 4), task=ADDING, steps=20, batch_size=4, eval_every=10)
    return TrainConfig(**{**options, **kw})


def _nan_x():
    x = GOOD_X.copy()
    x[3, 2, 1] = np.nan
    return x


CASES = [
    # names: cells, tasks, optimisers, schedules, readouts
    ("unknown cell", lambda: cells.get("lstmm"), ValueError, r"'lstmm'.*lstm"),
    ("unknown task", lambda: tasks.get("addding"), ValueError, r"'addding'.*adding"),
    ("unknown optimiser", lambda: OptimConfig("adamm"), ValueError, r"optimizer='adamm' is not one of .*adam"),
    ("unknown schedule", lambda: OptimConfig(schedule="cosine_warm"), ValueError, r"schedule='cosine_warm' is not one of"),
    ("unknown clipping", lambda: OptimConfig(clipping="norm"), ValueError, r"clipping='norm' is not one of"),
    ("unknown readout", lambda: SequenceModel("gru", 4, readout="first"), ValueError, r"readout='first' is not one of"),
    ("unknown init option", lambda: LSTM.init(KEY, 3, 4, forget_gate=1.0), TypeError, r"unknown option\(s\) forget_gate"),
    ("unknown initializer", lambda: LSTM.init(KEY, 3, 4, recurrent_init="unitary"), ValueError, r"recurrent_init='unitary'"),
    # sizes
    ("zero input size", lambda: LSTM.init(KEY, 0, 4), ValueError, r"input_size=0 must be a positive int"),
    ("negative hidden size", lambda: LSTM.init(KEY, 3, -4), ValueError, r"hidden_size=-4 must be a positive int"),
    ("float hidden size", lambda: SequenceModel("gru", 4.5), TypeError, r"hidden_size=4.5"),
    ("zero layers", lambda: SequenceModel("gru", 4, num_layers=0), ValueError, r"num_layers=0 must be a positive int"),
    ("dropout 1", lambda: SequenceModel("gru", 4, dropout=1.0), ValueError, r"dropout=1.0 must be in \[0.0, 1.0\)"),
    ("output dropout above 1", lambda: SequenceModel("gru", 4, output_dropout=1.5), ValueError, r"output_dropout=1.5"),
    # arrays: ranks, feature sizes, dtypes, emptiness, lengths
    ("rank-1 inputs", lambda: unroll(LSTM, PARAMS, jnp.ones(3)), ValueError, r"xs must have rank >= 2, got shape \(3,\)"),
    ("wrong feature size", lambda: unroll(LSTM, PARAMS, jnp.ones((2, 5, 7))), ValueError,
     r"xs has 7 features.*expected input_size=3"),
    ("integer inputs", lambda: unroll(LSTM, PARAMS, jnp.ones((2, 5, 3), jnp.int32)), TypeError, r"xs must .*float.*int32"),
    ("no time steps", lambda: unroll(LSTM, PARAMS, jnp.ones((2, 0, 3))), ValueError, r"xs has no time steps \(shape \(2, 0, 3\)\)"),
    ("length 0", lambda: unroll(LSTM, PARAMS, XS, lengths=jnp.array([0, 5])), ValueError, r"lengths must lie in \[1, 5\].*min 0"),
    ("length above T", lambda: unroll(LSTM, PARAMS, XS, lengths=jnp.array([2, 9])), ValueError, r"lengths must lie in \[1, 5\].*max 9"),
    ("float lengths", lambda: unroll(LSTM, PARAMS, XS, lengths=jnp.array([2.0, 3.0])), TypeError, r"lengths must be an integer array.*float32"),
    ("lengths of the wrong shape", lambda: unroll(LSTM, PARAMS, XS, lengths=jnp.array([2, 3, 4])), ValueError, r"lengths must have shape \(2,\) \(the batch shape\), got \(3,\)"),
    ("bad initial carry", lambda: unroll(LSTM, PARAMS, XS, initial_carry=jnp.zeros((2, 4))), ValueError, r"initial_carry must match"),
    ("model input rank", lambda: SequenceModel("gru", 4).apply(SequenceModel("gru", 4).init(KEY, 3), jnp.ones(3)),
     ValueError, r"inputs must have rank"),
    # task options
    ("zero sequence length", lambda: tasks.get("adding", seq_len=0), ValueError, r"seq_len=0 must be a positive int"),
    ("adding too short", lambda: tasks.get("adding", seq_len=10, variant="hs97"), ValueError, r"seq_len=10.*>= 24"),
    ("negative copy delay", lambda: tasks.get("copy", delay=-1), ValueError, r"delay=-1"),
    ("unknown task option", lambda: tasks.get("adding", length=10), TypeError, r"task 'adding'.*unexpected keyword argument 'length'"),
    # ArrayTask data
    ("non-finite data", lambda: ArrayTask(_nan_x(), GOOD_Y), ValueError, r"x contains 1 non-finite value"),
    ("empty data", lambda: ArrayTask(GOOD_X[:0], GOOD_Y[:0]), ValueError, r"x .*no samples|x .*shape \(0, 6, 2\)"),
    ("integer data", lambda: ArrayTask(GOOD_X.astype(np.int64), GOOD_Y), TypeError, r"x must .*float.*int64"),
    ("targets of another length", lambda: ArrayTask(GOOD_X, GOOD_Y[:7]), ValueError, r"y has shape \(7, 1\); expected 20 targets"),
    ("ArrayTask lengths out of range", lambda: ArrayTask(GOOD_X, GOOD_Y, lengths=np.full(20, 9)), ValueError,
     r"lengths must lie in \[1, 6\]"),
    ("validation split 1", lambda: ArrayTask(GOOD_X, GOOD_Y, validation_split=1.0), ValueError, r"validation_split=1.0"),
    # optimisation numbers
    ("zero learning rate", lambda: OptimConfig(learning_rate=0.0), ValueError, r"learning_rate=0.0 must be"),
    ("negative learning rate", lambda: OptimConfig(learning_rate=-1e-3), ValueError, r"learning_rate=-0.001 must be"),
    ("nan learning rate", lambda: OptimConfig(learning_rate=float("nan")), ValueError, r"learning_rate=nan must be finite"),
    ("negative clip", lambda: OptimConfig(clip=-1.0), ValueError, r"clip=-1.0 must be"),
    ("string learning rate", lambda: OptimConfig(learning_rate="1e-3"), TypeError, r"learning_rate='1e-3' must be a real number"),
    ("rmsprop dividing by zero", lambda: OptimConfig("rmsprop", rms_eps=0.0), ValueError,
     r"rms_eps=0 with rms_initial_scale=0 divides by zero"),
    ("negative rmsprop start", lambda: OptimConfig("rmsprop", rms_initial_scale=-1.0), ValueError, r"rms_initial_scale=-1.0"),
    ("parameter group without a pattern", lambda: ParamGroup(""), ValueError, r"ParamGroup pattern='': expected"),
    ("parameter group at rate 0", lambda: ParamGroup("a", lr_scale=0.0), ValueError, r"lr_scale=0.0 must be"),
    ("groups of dicts", lambda: OptimConfig(groups=({"pattern": "a"},)), TypeError, r"groups must hold ParamGroup"),
    # training and runner
    ("zero steps", lambda: _cfg(steps=0), ValueError, r"steps=0 must be a positive int"),
    ("zero batch size", lambda: _cfg(batch_size=0), ValueError, r"batch_size=0 must be a positive int"),
    ("empty training set", lambda: _cfg(train_size=0), ValueError, r"train_size=0 must be a positive int"),
    ("negative eval interval", lambda: _cfg(eval_every=-5), ValueError, r"eval_every=-5 must be a positive int"),
    ("head does not fit the task", lambda: _cfg(model=SequenceModel("gru", 4, output_size=3)), ValueError,
     r"output_size=3.*task .*1.*model_for"),
    ("zero seeds", lambda: run(_cfg(), seeds=0, progress=False), ValueError, r"seeds=0 must be a positive int"),
    ("negative seed", lambda: run(_cfg(), seeds=[-1], progress=False), ValueError, r"seeds\[i\]=-1 must be an int >= 0"),
    ("repeated seed", lambda: run(_cfg(), seeds=[1, 1], progress=False), ValueError, r"seeds=\(1, 1\) repeats a seed"),
    ("unknown sweep key", lambda: run(_cfg(), sweep={"hidden_size": [4, 8]}, progress=False), ValueError,
     r"sweep key 'hidden_size' is not sweepable"),
    ("empty sweep", lambda: run(_cfg(), sweep={"learning_rate": []}, progress=False), ValueError,
     r"sweep\['learning_rate'\] must be a non-empty 1-D list"),
    ("ragged sweep values", lambda: run(_cfg(), sweep={"learning_rate": [[1e-3, 1e-2], [1e-3]]}, progress=False),
     ValueError, r"sweep\['learning_rate'\]=\[\[0.001, 0.01\], \[0.001\]\] must be a non-empty 1-D list"),
    ("2-D sweep values", lambda: run(_cfg(), sweep={"clip": [[1.0, 2.0]]}, progress=False), ValueError,
     r"sweep\['clip'\] must be a non-empty 1-D list of values, got shape \(1, 2\)"),
    ("negative swept learning rate", lambda: run(_cfg(), sweep={"learning_rate": [1e-3, -1e-3]}, progress=False),
     ValueError, r"sweep\['learning_rate'\]"),
    ("steps not a multiple of eval_every", lambda: run(_cfg(steps=25), progress=False), ValueError,
     r"cfg.steps=25 must be a multiple of cfg.eval_every=10"),
    ("diagnostics at an odd step", lambda: run(_cfg(), diagnose_at=[5], progress=False), ValueError,
     r"diagnose_at step 5 must be a multiple of eval_every=10"),
    ("an unknown diagnostic", lambda: run(_cfg(), diagnose=("grad_norms", "hessian"), progress=False), ValueError,
     r"diagnose names 'hessian'; expected names from grad_norms, jacobian_spectral, lyapunov"),
    ("one diagnostic as a string", lambda: run(_cfg(), diagnose="lyapunov", progress=False), TypeError,
     r"diagnose='lyapunov' must be a tuple of names"),
]


@pytest.mark.parametrize("call, error, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_is_refused_with_a_one_line_message(call, error, pattern):
    with pytest.raises(error, match=pattern) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message, message
    assert raised.value.__class__ in (ValueError, TypeError), type(raised.value)


CLI_CASES = [
    ("adding_problem", ["--steps", "abc"], r"--steps: invalid literal.*'abc'"),
    ("adding_problem", ["--stepz", "3"], r"Unrecognized options: --stepz"),
    ("adding_problem", ["--seeds", "0"], r"--seeds 0: expected a positive number of seeds"),
    ("adding_problem", ["--seeds", "1.5"], r"--seeds: invalid literal.*'1.5'"),
    ("adding_problem", ["--learning-rate", "0"], r"learning_rate=0.0 must be"),
    ("adding_problem", ["--clip", "-1"], r"clip=-1.0 must be"),
    ("adding_problem", ["--batch-size", "-3"], r"batch_size=-3 must be a positive int"),
    ("adding_problem", ["--cells", "gruu"], r"'gruu' is not .*gru"),
    ("adding_problem", ["--cells"], r"--cells: expected at least one value"),
    ("adding_problem", ["--variant", "foo"], r"variant='foo' is not one of"),
    ("adding_problem", ["--seq-lens", "0"], r"seq_len=0 must be a positive int"),
    ("vanishing_gradients", ["--steps", "30", "--eval-every", "20"], r"steps=30 must be a multiple of cfg.eval_every=20"),
    ("copy_memory", ["--delays", "-2"], r"delay=-2"),
    ("copy_memory", ["--param-groups", "a"], r"--param-groups 'a': expected PATTERN=LR_SCALE"),
    ("copy_memory", ["--init", "glorot"], r"init='glorot' is not one of"),
    ("copy_memory", ["--optimizer", "lamb"], r"optimizer='lamb' is not one of"),
    ("sequential_digits", ["--hidden-size", "0"], r"hidden_size=0 must be a positive int"),
]


@pytest.mark.parametrize("module, argv, pattern", CLI_CASES, ids=[f"{m} {' '.join(a)}" for m, a, _ in CLI_CASES])
def test_bad_cli_values_exit_2_with_one_error_line(module, argv, pattern, tmp_path, monkeypatch, capsys):
    import importlib

    from experiments import _common

    experiment = importlib.import_module(f"experiments.{module}")
    monkeypatch.setattr(sys, "argv", [module, *argv, "--quick", "--no-progress", "--run-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        _common.cli(experiment.main, experiment.Config)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert __import__("re").search(pattern, err[0]), err[0]
    assert not list(tmp_path.glob("*/checkpoints/*"))  # refused before any training


def test_the_catalogue_is_at_least_thirty_cases():
    assert len(CASES) + len(CLI_CASES) >= 30

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

import optax

from rnn_jax import SequenceModel, cells, credit, optimizer, tasks, unroll
from rnn_jax.optimizer import Optax
from rnn_jax.runner import run
from rnn_jax.tasks import ArrayTask
from rnn_jax import TrainConfig, fit, model_for

KEY = jax.random.key(0)
LSTM = cells.get("lstm")
PARAMS = LSTM.init(KEY, 3, 4)
XS = jnp.ones((2, 5, 3))
ADDING = tasks.get("adding", seq_len=10, eval_size=16)
GOOD_X = np.random.default_rng(0).normal(size=(20, 6, 2)).astype(np.float32)
GOOD_Y = np.random.default_rng(1).normal(size=(20, 1)).astype(np.float32)


def _credit_call(cell: str, hidden: int):
    """``(model, params, batch, loss)`` for a direct call of a credit rule, ``key=`` aside;
    the parameters are shapes only (a refusal must come before anything is computed)."""
    task = tasks.get("adding", seq_len=10)
    model = SequenceModel(cell, hidden, output_size=1)
    params = jax.eval_shape(lambda k: model.init(k, 2), KEY)
    batch = task.sample(KEY, 4)
    return model, params, batch, lambda outputs: task.loss(outputs, batch)


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
    ("unknown optax factory", lambda: Optax("adamm"), ValueError, r"optimizer factory 'adamm' is not optax's nor registered"),
    ("a name outside optax", lambda: optimizer.from_dict({"__optax__": "os.system", "args": ["true"]}), ValueError,
     r"optimizer factory 'os.system' is not optax's nor registered"),
    ("a private optax name", lambda: Optax("optax._src.alias.adam"), ValueError, r"'optax._src.alias.adam' is not optax's nor registered"),
    ("a function of one's own", lambda: Optax(lambda learning_rate: optax.sgd(learning_rate)), ValueError,
     r"is not optax's nor registered: register it"),
    ("an argument the factory does not take", lambda: Optax("adam", 1e-3, bb1=0.9), ValueError,
     r"Optax\('adam'\): got an unexpected keyword argument 'bb1' \(its arguments: learning_rate, b1"),
    ("a required argument left out", lambda: Optax("adam"), ValueError,
     r"Optax\('adam'\): missing a required argument: 'learning_rate'"),
    ("a built transformation as an argument", lambda: Optax("chain", optax.adam(1e-3)), TypeError,
     r"an argument of Optax\(...\) is itself spelt Optax\(...\)"),
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
    # the optimizer
    ("a string as the optimizer", lambda: _cfg(optimizer="adam"), TypeError, r"optimizer must be Optax\(...\).*got str"),
    ("an optax factory itself", lambda: _cfg(optimizer=optax.adam), TypeError, r"optimizer must be Optax\(...\).*got function"),
    ("a schedule as the optimizer", lambda: _cfg(optimizer=Optax("constant_schedule", 1e-3)), TypeError,
     r"builds a function, not an optax.GradientTransformation"),
    ("a non-square recurrent matrix", lambda: unroll(cells.get("rnn"), {**cells.get("rnn").init(KEY, 2, 4),
                                                                        "w_hh": jnp.ones((4, 3))}, GOOD_X[:, :, :2]),
     ValueError, r"params\['w_hh'\] has shape \(4, 3\), expected \(4, 4\) \(a 'rnn' cell of input_size=2 and "
     r"hidden_size=4"),
    ("fit given a config for another model", lambda: fit(SequenceModel("gru", 4, output_size=1), "adding",
                                                         _cfg(model=SequenceModel("lstm", 4, output_size=1))),
     ValueError, r"cfg.model differs from the model passed to fit"),
    # credit rules called directly refuse as TrainConfig(gradient=...) does
    ("the diagonal rule on an LSTM", lambda: credit.gradients("diagonal", *_credit_call("lstm", 8), key=KEY), ValueError,
     r"rule='diagonal' is exact for diagonal recurrences .* 'lstm' cannot use it"),
    ("the diagonal rule's alignment on an LSTM", lambda: credit.alignment("diagonal", *_credit_call("lstm", 8), key=KEY),
     ValueError, r"rule='diagonal' is exact for diagonal recurrences"),
    ("RTRL on a hidden-1024 LSTM", lambda: credit.gradients("rtrl", *_credit_call("lstm", 1024), key=KEY), ValueError,
     r"rule='rtrl' keeps a \[state, parameters\] influence matrix .* GiB for a batch of 4 \('lstm', hidden 1024\)"),
    # training and runner
    ("zero steps", lambda: _cfg(steps=0), ValueError, r"steps=0 must be a positive int"),
    ("zero batch size", lambda: _cfg(batch_size=0), ValueError, r"batch_size=0 must be a positive int"),
    ("empty training set", lambda: _cfg(train_size=0), ValueError, r"train_size=0 must be a positive int"),
    ("a gradient that is not a Gradient", lambda: _cfg(gradient=0.5), TypeError,
     r"gradient must be a Gradient or a rule name, got float"),
    ("an unknown gradient rule", lambda: _cfg(gradient="adjoint"), ValueError, r"gradient.rule='adjoint' is not one of"),
    ("negative eval interval", lambda: _cfg(eval_every=-5), ValueError, r"eval_every=-5 must be a positive int"),
    ("head does not fit the task", lambda: _cfg(model=SequenceModel("gru", 4, output_size=3)), ValueError,
     r"output_size=3.*task .*1.*model_for"),
    ("zero seeds", lambda: run(_cfg(), seeds=0, progress=False), ValueError, r"seeds=0 must be a positive int"),
    ("negative seed", lambda: run(_cfg(), seeds=[-1], progress=False), ValueError, r"seeds\[i\]=-1 must be an int >= 0"),
    ("repeated seed", lambda: run(_cfg(), seeds=[1, 1], progress=False), ValueError, r"seeds=\(1, 1\) repeats a seed"),
    ("unknown sweep key", lambda: run(_cfg(), sweep={"hidden_size": [4, 8]}, progress=False), ValueError,
     r"sweep key 'hidden_size' is not a float argument written in the optimizer \(its injected arguments: "
     r"0.max_norm, 1.learning_rate\)"),
    ("a swept argument the factory does not take", lambda: run(_cfg(), sweep={"b1": [0.9]}, progress=False),
     ValueError, r"sweep key 'b1' is not a float argument written in the optimizer"),
    ("a sweep of a built transformation", lambda: run(_cfg(optimizer=optax.adam(1e-3)),
                                                      sweep={"learning_rate": [1e-3]}, progress=False), ValueError,
     r"sweep key 'learning_rate' is not a float argument written in the optimizer \(it has none \(a built"),
    ("a key swept twice", lambda: run(_cfg(), sweep={"learning_rate": [1e-3], "1.learning_rate": [1e-2]},
                                      progress=False), ValueError, r"sweep names one value twice"),
    ("empty sweep", lambda: run(_cfg(), sweep={"learning_rate": []}, progress=False), ValueError,
     r"sweep\['learning_rate'\] must be a non-empty 1-D list"),
    ("ragged sweep values", lambda: run(_cfg(), sweep={"learning_rate": [[1e-3, 1e-2], [1e-3]]}, progress=False),
     ValueError, r"sweep\['learning_rate'\]=\[\[0.001, 0.01\], \[0.001\]\] must be a non-empty 1-D list"),
    ("2-D sweep values", lambda: run(_cfg(), sweep={"max_norm": [[1.0, 2.0]]}, progress=False), ValueError,
     r"sweep\['max_norm'\] must be a non-empty 1-D list of values, got shape \(1, 2\)"),
    ("nan swept learning rate", lambda: run(_cfg(), sweep={"learning_rate": [1e-3, float("nan")]}, progress=False),
     ValueError, r"sweep\['learning_rate'\]=\[0.001, nan\] must hold finite numbers"),
    ("diagnostics at an odd step", lambda: run(_cfg(), diagnose_at=[5], progress=False), ValueError,
     r"diagnose_at step 5 must be an evaluation step \(a multiple of eval_every=10, or steps=20\)"),
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
    ("vanishing_gradients", ["--steps", "30", "--eval-every", "0"], r"eval_every=0 must be a positive int"),
    ("copy_memory", ["--delays", "-2"], r"delay=-2"),
    ("copy_memory", ["--lr-scales", "a", "0"], r"--lr-scales \{'a': 0.0\}: expected PATTERN SCALE pairs with SCALE > 0"),
    ("copy_memory", ["--lr-scales", "a"], r"Error parsing --lr-scales"),
    ("copy_memory", ["--optimizer-args", "foo", "1"], r"--optimizer-args \{'foo': 1.0\}: .*unexpected keyword argument 'foo'"),
    ("copy_memory", ["--clipping", "os.system"], r"--clipping os.system: .*not optax's nor registered"),
    ("copy_memory", ["--cells", "lem", "--hidden-sizes", "8", "--lem.dt", "-1"], r"--lem.\* \{'dt': -1.0\}: dt=-1.0 must be"),
    ("copy_memory", ["--init", "glorot"], r"init='glorot' is not one of"),
    ("copy_memory", ["--optimizer", "adamm"], r"--optimizer adamm: optimizer factory 'adamm' is not optax's"),
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

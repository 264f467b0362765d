"""The optimizer is optax's, spelt ``Optax(factory, **kwargs)``: it builds what optax builds,
its floats are injected (a sweep is one program, a re-fit compiles nothing), a run directory
names it and resumes it, and a stored name never reaches anything but optax's functions and
the registry."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax import optimizer, tasks
from rnn_jax.io import results
from rnn_jax.optimizer import Optax
from rnn_jax.runner import run
from rnn_jax import fit
from rnn_jax.training import TrainConfig, make_train, model_for
from tests.conftest import count_compilations, interrupt_after, run_files

pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

TASK = tasks.get("adding", seq_len=12, eval_size=64)
PARAMS = {"a": jnp.array([[0.3, -0.2], [0.1, 0.5]]), "w": jnp.array([0.4, -0.7, 0.2])}


def _grads(i):
    return {"a": jnp.full((2, 2), 0.7) * (i + 1) ** 0.5, "w": jnp.array([0.1, -0.2, 0.3]) * (-1.0) ** i}


def _updates(tx, steps=5):
    params, state = PARAMS, tx.init(PARAMS)
    for i in range(steps):
        updates, state = tx.update(_grads(i), state, params)
        params = optax.apply_updates(params, updates)
    return params


SCHEDULE = Optax("warmup_cosine_decay_schedule", init_value=0.0, peak_value=3e-3, warmup_steps=2, decay_steps=5)
CHAIN = Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adamw", learning_rate=SCHEDULE))


@pytest.mark.parametrize("spec, reference", [
    (CHAIN, lambda: optax.chain(optax.clip_by_global_norm(1.0),
                                optax.adamw(optax.warmup_cosine_decay_schedule(0.0, 3e-3, 2, 5)))),
    (Optax(optax.lion, learning_rate=1e-2, b1=0.95), lambda: optax.lion(1e-2, b1=0.95)),
    (Optax("sgd", learning_rate=0.1, momentum=0.9, nesterov=True), lambda: optax.sgd(0.1, momentum=0.9, nesterov=True)),
    (Optax("chain", Optax("clip", max_delta=0.5), Optax("rmsprop", learning_rate=1e-3, eps=1e-30, initial_scale=1e-3)),
     lambda: optax.chain(optax.clip(0.5), optax.rmsprop(1e-3, eps=1e-30, initial_scale=1e-3))),
    (Optax("optax.contrib.prodigy", learning_rate=1.0), lambda: optax.contrib.prodigy(1.0)),
    (Optax("partition", {"fast": Optax("sgd", learning_rate=0.1), "slow": Optax("sgd", learning_rate=0.01)},
           Optax("rnn_jax.optimizer.label_by_name", {"a": "slow"}, default="fast")),
     lambda: optax.partition({"fast": optax.sgd(0.1), "slow": optax.sgd(0.01)}, {"a": "slow", "w": "fast"})),
], ids=["chain-clip-adamw-schedule", "lion", "nesterov", "arjovsky-rmsprop", "contrib", "partition"])
def test_builds_what_optax_builds(spec, reference):
    """Five steps of the built transformation equal five of optax's own, built by hand."""
    chex.assert_trees_all_close(_updates(optimizer.build(spec)), _updates(reference()), rtol=1e-6, atol=1e-7)


def test_rmsprop_at_arjovsky_et_al_s_constants_is_their_update():
    """Their ``optimizations.rms_prop``: ms starts at 1e-3, ms' = 0.9 ms + 0.1 g², step
    lr g / sqrt(ms'), no epsilon; spelt with optax.rmsprop's own arguments."""
    spec = Optax("rmsprop", learning_rate=1e-3, eps=0.0, initial_scale=1e-3)
    params = {k: np.asarray(v, np.float64) for k, v in PARAMS.items()}
    ms = {k: np.full_like(v, 1e-3) for k, v in params.items()}
    for i in range(5):
        for k, g in _grads(i).items():
            ms[k] = 0.9 * ms[k] + 0.1 * np.asarray(g, np.float64) ** 2
            params[k] = params[k] - 1e-3 * np.asarray(g, np.float64) / np.sqrt(ms[k])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), _updates(optimizer.build(spec)), params)


def test_floats_written_are_injected_and_defaults_stay_constants():
    spec = CHAIN
    assert optimizer.hyperparameters(spec) == {"0.max_norm": 1.0}  # the schedule's floats are the program's
    lion = Optax("lion", learning_rate=1e-3, b1=0.95)
    assert optimizer.hyperparameters(lion) == {"learning_rate": 1e-3, "b1": 0.95}
    state = optimizer.build(lion, {"learning_rate": jnp.float32(5e-3)}).init(PARAMS)
    assert float(state.hyperparams["learning_rate"]) == np.float32(5e-3) and "b2" not in state.hyperparams
    assert optimizer.address(lion, "learning_rate") == "learning_rate"
    assert optimizer.address(CHAIN, "max_norm") == "0.max_norm"


def test_an_injected_value_changes_without_retracing():
    spec = Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("sgd", learning_rate=0.1))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(values):
        tx = optimizer.build(spec, values)
        return tx.update(_grads(0), tx.init(PARAMS), PARAMS)[0]

    small = step({"0.max_norm": jnp.float32(0.01), "1.learning_rate": jnp.float32(0.1)})
    large = step({"0.max_norm": jnp.float32(100.0), "1.learning_rate": jnp.float32(0.2)})
    assert optax.tree.norm(small) == pytest.approx(0.1 * 0.01, rel=1e-5)
    chex.assert_trees_all_close(large, jax.tree.map(lambda g: -0.2 * g, _grads(0)), rtol=1e-6)


def test_json_round_trip_and_the_program_identity():
    data = json.loads(json.dumps(optimizer.to_json(CHAIN)))
    assert data["__optax__"] == "chain" and data["args"][1]["__optax__"] == "adamw"
    assert optimizer.from_dict(data) == CHAIN and hash(optimizer.from_dict(data)) == hash(CHAIN)
    other_clip = optimizer.with_values(CHAIN, {"0.max_norm": 3.0})
    assert other_clip != CHAIN and optimizer.with_values(other_clip, {"0.max_norm": 1.0}) == CHAIN
    named_by_function = Optax(optax.chain, Optax(optax.clip_by_global_norm, max_norm=1.0),
                              Optax(optax.adamw, learning_rate=SCHEDULE))
    assert named_by_function == CHAIN


def test_a_stored_name_outside_optax_is_never_imported_or_called(tmp_path):
    marker = tmp_path / "ran"
    for name in ("os.system", "subprocess.call", "builtins.exec", "rnn_jax.runtime.watchdog.stop_process",
                 "optax.os.system", "optax.contrib.jax.debug.callback", "optax.tree_utils.tree_map"):
        with pytest.raises(ValueError, match="is not optax's nor registered"):
            optimizer.from_dict({"__optax__": name, "args": [f"touch {marker}"]})
    assert not marker.exists()


@optimizer.register
def sign_sgd(learning_rate: float) -> optax.GradientTransformation:
    """A hand-written transformation: a step of ``learning_rate`` along the gradient's sign."""
    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: -learning_rate * jnp.sign(g), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _cfg(spec, steps=40):
    return TrainConfig(model=model_for(TASK, "gru", 8), task=TASK, steps=steps, batch_size=8, eval_every=20,
                       optimizer=spec)


InterruptAfter20 = interrupt_after(20)


SLOW = pytest.mark.slow  # 7-15 s each on 2 cores; CI runs `pytest -m slow` first


@pytest.mark.parametrize("spec", [CHAIN, pytest.param(Optax(optax.lion, learning_rate=1e-3), marks=SLOW),
                                  pytest.param(Optax(sign_sgd, learning_rate=1e-2), marks=SLOW)],
                         ids=["chain-clip-adamw-schedule", "lion", "hand-written"])
def test_a_users_optax_trains_through_fit_and_run_and_resumes_exactly(spec, tmp_path):
    """Through ``run`` (2 seeds in one program) member k equals ``fit`` with seed k; an
    interrupted run resumes bit for bit; config.json names the optimizer."""
    cfg = _cfg(spec)
    full = run(cfg, seeds=2, run_dir=tmp_path / "full", progress=False)
    for k in range(2):
        params, history = fit(cfg.model, TASK, cfg, seed=k)
        np.testing.assert_allclose(history["eval"]["loss"], full.eval["loss"][k], rtol=2e-5, atol=1e-6)
    assert full.eval["loss"][:, -1].mean() < full.eval["loss"][:, 0].mean()  # it learns
    with pytest.raises(KeyboardInterrupt):
        run(cfg, seeds=2, run_dir=InterruptAfter20(tmp_path / "resumed"), progress=False)
    resumed = run(cfg, seeds=2, run_dir=tmp_path / "resumed", progress=False)
    chex.assert_trees_all_equal(full.state.params, resumed.state.params)
    a, b = run_files(tmp_path / "full"), run_files(tmp_path / "resumed")
    for name in a:
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}:{key}")
    stored = json.loads((tmp_path / "full" / "config.json").read_text())
    assert optimizer.from_dict(stored["train_config"]["optimizer"]) == spec and stored["rebuildable"]


@pytest.mark.slow  # 40 s on 2 cores: four runs from empty caches
def test_a_swept_factory_argument_is_one_program_of_seeds_times_points():
    """``optax.adamw`` over 3 learning rates, 2 seeds: 6 members, one training program;
    each member equals its own single run."""
    cfg = _cfg(Optax("adamw", learning_rate=1e-3, weight_decay=1e-4), steps=20)
    lrs = [1e-3, 3e-3, 1e-2]

    def programs(sweep):
        jax.clear_caches()
        return count_compilations(lambda: run(cfg, seeds=2, sweep=sweep, progress=False, diagnose=(),
                                              members_per_call="vmap"))

    programs({"learning_rate": lrs[:1]})  # the process's first run also compiles JAX's own small programs
    _, unswept = programs({"learning_rate": lrs[:1]})
    result, swept = programs({"learning_rate": lrs})
    assert swept == unswept  # three points cost no program more than one
    assert [(m["seed"], m["learning_rate"]) for m in result.members] == [(s, lr) for lr in lrs for s in (0, 1)]
    for m, row in enumerate(result.members):
        _, history = jax.jit(make_train(cfg))(jax.random.key(row["seed"]), {"learning_rate": row["learning_rate"]})
        np.testing.assert_allclose(result.eval["loss"][m], history.eval["loss"], rtol=2e-5, atol=1e-6)
    assert len(set(np.round(result.eval["loss"][:, -1], 6))) == 6


def test_a_transformation_built_in_code_trains_but_does_not_resume(tmp_path):
    cfg = _cfg(optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2)))
    first = run(cfg, seeds=1, run_dir=tmp_path / "r", progress=False)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["rebuildable"] is False
    params, _ = fit(cfg.model, TASK, cfg)
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[0], first.state.params), params, rtol=2e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"GradientTransformation built in code.*cannot resume; spell"):
        run(cfg, seeds=1, run_dir=tmp_path / "r", progress=False)


def test_a_run_directory_from_before_the_change_loads_and_refuses_to_resume(tmp_path):
    run(_cfg(Optax("adam", learning_rate=1e-2), steps=20), seeds=1, run_dir=tmp_path / "old", progress=False)
    path = tmp_path / "old" / "config.json"
    config = json.loads(path.read_text())
    train = config["train_config"]
    del train["optimizer"]
    train["optim"] = {"__class__": "rnn_jax.training.optim.OptimConfig", "optimizer": "adam", "learning_rate": 0.01}
    config["members"] = [{"member": 0, "seed": 0, "learning_rate": 0.01, "clip": 1.0}]
    path.write_text(json.dumps(config))
    frames = results.load(tmp_path / "old")
    assert set(frames.members.columns) >= {"learning_rate", "clip"} and not frames.eval.empty
    with pytest.raises(ValueError, match=r"written before the optimizer became optax's.*start a new run directory"):
        run(_cfg(Optax("adam", learning_rate=1e-2), steps=20), seeds=1, run_dir=tmp_path / "old", progress=False)


CHILD = textwrap.dedent("""
    import os, signal, sys
    import jax, optax
    from rnn_jax import optimizer, tasks
    from rnn_jax.io.rundir import RunDir
    from rnn_jax.optimizer import Optax
    from rnn_jax.runner import run
    from rnn_jax.training import TrainConfig, model_for

    def sign_sgd(learning_rate):
        def update(updates, state, params=None):
            return jax.tree.map(lambda g: -learning_rate * jax.numpy.sign(g), updates), state
        return optax.GradientTransformation(lambda params: optax.EmptyState(), update)

    optimizer.register(sign_sgd, "my_lab.sign_sgd")

    class KillAfter20(RunDir):
        def write_status(self, step, *args):
            super().write_status(step, *args)
            if step == 20 and os.environ.get("KILL"):
                os.kill(os.getpid(), signal.SIGKILL)

    task = tasks.get("adding", seq_len=12, eval_size=64)
    cfg = TrainConfig(model=model_for(task, "gru", 8), task=task, steps=40, batch_size=8, eval_every=20,
                      optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0),
                                      Optax("my_lab.sign_sgd", learning_rate=1e-2)))
    with jax.numpy_dtype_promotion("standard"):
        run(cfg, seeds=2, sweep={"max_norm": [0.5]}, run_dir=KillAfter20(sys.argv[1]), progress=False)
""")


@pytest.mark.slow  # three processes of ~10 s; CI runs `pytest -m slow` first
def test_a_registered_factory_resumes_in_a_new_process_after_kill_9(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}

    def child(run_dir, kill):
        return subprocess.run([sys.executable, str(script), str(run_dir)], env={**env, **({"KILL": "1"} if kill else {})},
                              capture_output=True, text=True, timeout=600)

    assert child(tmp_path / "full", kill=False).returncode == 0
    killed = child(tmp_path / "resumed", kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert json.loads((tmp_path / "resumed" / "status.json").read_text())["step"] == 20
    done = child(tmp_path / "resumed", kill=False)
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = run_files(tmp_path / "full"), run_files(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for name in a:
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}:{key}")
    stored = json.loads((tmp_path / "full" / "config.json").read_text())
    assert stored["train_config"]["optimizer"]["args"][1]["__optax__"] == "my_lab.sign_sgd"

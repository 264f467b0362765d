"""The runner: members equal single runs, device count does not matter, resume is exact,
divergence is isolated, mismatched run directories are refused."""

import errno
import json
import os
import subprocess
import sys
import textwrap
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, results, tasks
from rnn_jax.analysis import diagnostics
from rnn_jax.io import rundir
from rnn_jax.cells import base as cell_base
from rnn_jax.optimizer import Optax
from rnn_jax.io.rundir import RunDir, WriteFailed
from rnn_jax.runner import choose_members_per_call, make_members, placement, run
from rnn_jax.training import TrainConfig, make_train, model_for
from rnn_jax.unroll import Options

from .conftest import count_compilations, run_files

pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

TASK = tasks.get("adding", seq_len=12, eval_size=64)


def _cfg(cell="gru", steps=40, **kw):
    return TrainConfig(model=model_for(TASK, cell, 8), task=TASK, steps=steps, batch_size=8, eval_every=20,
                       optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)), **kw)


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_members_equal_single_runs_over_seeds_and_sweep(tmp_path):
    cfg = _cfg()
    result = run(cfg, seeds=[3, 5], sweep={"learning_rate": [1e-2, 3e-3]}, run_dir=tmp_path / "r", progress=False)
    assert [(m["seed"], m["learning_rate"]) for m in result.members] == [
        (3, 1e-2), (5, 1e-2), (3, 3e-3), (5, 3e-3)]
    trainer = make_train(cfg)
    for m, row in enumerate(result.members):
        hp = {"learning_rate": jnp.float32(row["learning_rate"])}
        state, history = jax.jit(trainer)(jax.random.key(row["seed"]), hp)
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[m], result.state.params), state.params, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(result.train["loss"][m], history.train["loss"], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(result.eval["loss"][m], history.eval["loss"], rtol=2e-5, atol=1e-6)
    np.testing.assert_array_equal(result.eval_steps, [0, 20, 40])
    # the diagnostics of member m are those of its own single run (here: the exponents at the end)
    final = jax.tree.map(lambda a: a[2], result.state.params)
    held_out = cfg.task.eval_batch()
    want = diagnostics.record(trainer.model, final, held_out, cfg.task, jacobian_batch=8)[rundir.LYAPUNOV]
    np.testing.assert_allclose(result.diagnostics[40][rundir.LYAPUNOV][2], want, rtol=1e-4, atol=1e-5)
    # tidy frames: one row per member x evaluation x metric
    frames = results.load(tmp_path / "r")
    assert len(frames.eval) == 4 * 3 * len(result.eval)
    assert set(frames.lyapunov.step) == {0, 20, 40} and len(frames.lyapunov) == 3 * 4 * want.shape[0]
    table = results.summary(frames, "loss")
    assert sorted(table.learning_rate) == [3e-3, 1e-2] and set(table.seeds) == {2}


class InterruptAfter40(RunDir):
    """A run directory whose status write at step 40 is followed by Ctrl-C."""

    def write_status(self, step, *args):
        super().write_status(step, *args)
        if step == 40:
            raise KeyboardInterrupt


class DiskFullAt40(RunDir):
    """A run directory whose disk fills up when the training metrics of step 40 are written."""

    def write_npz(self, path, arrays):
        if path.endswith("train_00000040.npz"):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        super().write_npz(path, arrays)


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_interrupt_and_resume_is_bit_identical(tmp_path):
    cfg = _cfg("lstm", steps=60)
    full = run(cfg, seeds=2, run_dir=tmp_path / "full", progress=False)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, seeds=2, run_dir=InterruptAfter40(tmp_path / "resumed"), progress=False)
    status = json.loads((tmp_path / "resumed" / "status.json").read_text())
    assert status["step"] == 40 and not status["finished"]
    resumed = run(cfg, seeds=2, run_dir=tmp_path / "resumed", progress=False)
    a, b = run_files(tmp_path / "full"), run_files(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for name in a:
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}:{key}")
    chex.assert_trees_all_equal(jax.random.key_data(full.state.key), jax.random.key_data(resumed.state.key))
    chex.assert_trees_all_equal(full.state.params, resumed.state.params)
    # a finished run is not retrained: rerunning returns the same results at once
    again = run(cfg, seeds=2, run_dir=tmp_path / "full", progress=False)
    np.testing.assert_array_equal(again.train["loss"], full.train["loss"])


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_nan_in_one_member_is_isolated_and_reported(tmp_path):
    cfg = TrainConfig(model=model_for(TASK, "rnn", 8), task=TASK, steps=40, batch_size=8, eval_every=20,
                      optimizer=Optax("sgd", learning_rate=0.01))
    with pytest.warns(RuntimeWarning, match=r"seed 1, learning_rate=1e\+30.*non-finite at step"):
        result = run(cfg, seeds=2, sweep={"learning_rate": [1e-2, 1e30]}, run_dir=tmp_path / "nan", progress=False)
    diverged = {d["member"] for d in result.diverged}
    assert diverged <= {2, 3} and diverged
    status = json.loads((tmp_path / "nan" / "status.json").read_text())
    assert all(d["learning_rate"] == 1e30 and d["step"] >= 0 for d in status["diverged"])
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(result.state.params))
    clean = run(cfg, seeds=2, sweep={"learning_rate": [1e-2]}, run_dir=tmp_path / "clean", progress=False)
    np.testing.assert_array_equal(result.train["loss"][:2], clean.train["loss"])
    chex.assert_trees_all_equal(jax.tree.map(lambda a: a[:2], result.state.params), clean.state.params)


def test_mismatched_run_directory_is_refused(tmp_path):
    run(_cfg(), seeds=2, run_dir=tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match=r"differences.*cell: 'gru' -> 'lstm'"):
        run(_cfg("lstm"), seeds=2, run_dir=tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match=r"seeds"):
        run(_cfg(), seeds=3, run_dir=tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="resume=False"):
        run(_cfg(), seeds=2, run_dir=tmp_path / "r", progress=False, resume=False)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"seeds": 0}, ValueError, "seeds=0"),
        ({"seeds": -2}, ValueError, "seeds=-2"),
        ({"seeds": "8"}, TypeError, "seeds='8'"),
        ({"seeds": [1, 1]}, ValueError, "repeats"),
        ({"sweep": {"momentum": [0.9]}}, ValueError, "'momentum' is not a float argument written in the optimizer"),
        ({"sweep": {"learning_rate": []}}, ValueError, "non-empty"),
        ({"sweep": {"learning_rate": [1e-3, float("inf")]}}, ValueError, "learning_rate"),
        ({"diagnose_at": [7]}, ValueError, "diagnose_at step 7"),
        ({"checkpoint_every": 0}, ValueError, "checkpoint_every=0"),
        ({"members_per_call": "fast"}, ValueError, "members_per_call='fast' is not one of 'auto', 'vmap'"),
        ({"members_per_call": None}, TypeError, "members_per_call=None must be 'auto', 'vmap' or a positive int"),
        ({"members_per_call": 0}, ValueError, "members_per_call=0"),
    ],
)
def test_bad_runner_arguments(kwargs, error, match, tmp_path):
    with pytest.raises(error, match=match):
        run(_cfg(), run_dir=tmp_path / "x", progress=False, **{"seeds": 2, **kwargs})


def test_a_last_partial_chunk_is_trained_evaluated_and_resumed(tmp_path):
    """50 steps in chunks of 20: two chunks of 20, then one of 10, each followed by an
    evaluation; member k equals the whole-run program, and a resume before the short chunk
    is bit-identical."""
    cfg = _cfg("rnn", steps=50)
    full = run(cfg, seeds=2, run_dir=tmp_path / "full", progress=False, diagnose_at=[0, 50])
    np.testing.assert_array_equal(full.eval_steps, [0, 20, 40, 50])
    assert full.train["loss"].shape == (2, 50) and 50 in full.diagnostics
    for k in range(2):
        _, history = jax.jit(make_train(cfg))(jax.random.key(k))
        np.testing.assert_allclose(full.eval["loss"][k], history.eval["loss"], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(full.train["loss"][k], history.train["loss"], rtol=2e-5, atol=1e-6)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, seeds=2, run_dir=InterruptAfter40(tmp_path / "resumed"), progress=False, diagnose_at=[0, 50])
    resumed = run(cfg, seeds=2, run_dir=tmp_path / "resumed", progress=False, diagnose_at=[0, 50])
    chex.assert_trees_all_equal(full.state.params, resumed.state.params)
    np.testing.assert_array_equal(full.train["loss"], resumed.train["loss"])


def test_members_grid_order():
    members = make_members(2, {"learning_rate": [0.1, 0.2], "max_norm": [1.0, 2.0]})
    assert len(members) == 8
    assert members.points[1] == {"learning_rate": 0.1, "max_norm": 2.0}
    assert [row["seed"] for row in members.table()] == [0, 1] * 4


@pytest.mark.slow  # 16 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_every_member_strategy_gives_the_same_results(monkeypatch):
    """vmap, one member per call, and groups of 3 over 4 members (a ragged last group); the
    groups' values do not depend on how many run at once (bit for bit)."""
    cfg = _cfg("lstm", steps=20)
    options = dict(seeds=2, sweep={"learning_rate": [1e-2, 3e-3]}, progress=False, diagnose_at=[])
    outs = {k: run(cfg, members_per_call=k, **options) for k in ("vmap", 1, 3)}
    monkeypatch.setattr(placement, "cores", lambda: 1)
    one_thread = run(cfg, members_per_call=1, **options)
    chex.assert_trees_all_equal((one_thread.train, one_thread.eval), (outs[1].train, outs[1].eval))
    for k in (1, 3):
        np.testing.assert_allclose(outs[k].train["loss"], outs["vmap"].train["loss"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(outs[k].eval["loss"], outs["vmap"].eval["loss"], rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_close(outs[k].state.params, outs["vmap"].state.params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "hidden,devices,expected",
    [(8, ["cpu"], 4), (16, ["cpu"], 4), (32, ["cpu"], 2), (64, ["cpu"], 1), (128, ["cpu"], 1),
     (16, ["cpu", "cpu"], None), (64, ["cpu", "cpu"], None), (16, ["gpu"], None), (128, ["tpu"] * 8, None)],
)
def test_the_measured_strategy_rule(hidden, devices, expected):
    assert choose_members_per_call(hidden, [types.SimpleNamespace(platform=p) for p in devices]) == expected


FOUR_DEVICES = textwrap.dedent(
    """
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np
    assert len(jax.devices()) == 4
    from rnn_jax import tasks
    from rnn_jax.optimizer import Optax
    from rnn_jax.runner import run
    from rnn_jax.training import TrainConfig, model_for
    task = tasks.get("adding", seq_len=12, eval_size=64)
    cfg = TrainConfig(model=model_for(task, "gru", 8), task=task, steps=40, batch_size=8, eval_every=20,
                      optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)))
    devices = jax.devices()[: {devices}]
    result = run(cfg, seeds=3, sweep={{"learning_rate": [1e-2, 3e-3]}}, run_dir=sys.argv[1], progress=False,
                 devices=devices)
    np.savez(sys.argv[2], loss=result.train["loss"], eval=result.eval["loss"],
             lyapunov=np.stack([d["lyapunov"] for _, d in sorted(result.diagnostics.items()) if "lyapunov" in d]),
             **{{f"p{{i}}": np.asarray(l) for i, l in enumerate(jax.tree.leaves(result.state.params))}})
    """
)


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_one_and_four_devices_give_the_same_results(tmp_path):
    outputs = {}
    for devices in (1, 4):
        script = tmp_path / f"run{devices}.py"
        script.write_text(FOUR_DEVICES.format(devices=devices))
        out = tmp_path / f"out{devices}.npz"
        subprocess.run([sys.executable, str(script), str(tmp_path / f"dir{devices}"), str(out)], check=True,
                       timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
        outputs[devices] = dict(np.load(out))
    assert outputs[1].keys() == outputs[4].keys()
    # 6 members padded to 8 over 4 devices; the padding is dropped. Equal to float32 rounding,
    # not bit for bit: XLA:CPU's batched matmuls may sum in another order when a device holds
    # 2 members instead of 6 (seen: one parameter off by 1.7e-7 after 40 steps).
    for key in outputs[1]:
        np.testing.assert_allclose(outputs[1][key], outputs[4][key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_debug_mode_names_the_operation_that_made_the_first_nan(tmp_path):
    cfg = TrainConfig(model=model_for(TASK, "rnn", 8), task=TASK, steps=40, batch_size=8, eval_every=20,
                      optimizer=Optax("sgd", learning_rate=0.01))
    pattern = r"seed \d+, .*debug replay: step \d+: nan generated by primitive: \w+ at .*rnn_jax.*\.py:\d+ \(.+\)\)"
    with pytest.warns(RuntimeWarning, match=pattern):
        run(cfg, seeds=4, sweep={"learning_rate": [1e30]}, run_dir=tmp_path / "d", progress=False, debug=True)


def test_a_disk_too_small_for_the_run_is_refused_before_training(tmp_path, monkeypatch):
    import collections
    import shutil

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(ValueError, match=r"run_dir=.* has 0.0 MiB free but this run needs about [\d.]+ MiB"):
        run(_cfg(), seeds=2, run_dir=tmp_path / "r", progress=False)
    assert not os.path.exists(tmp_path / "r" / "checkpoints")


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_a_failed_write_names_the_file_the_step_and_the_checkpoint_to_resume_from(tmp_path):
    with pytest.raises(WriteFailed, match=r"train_00000040.npz failed at step 40 \(No space left on device\); "
                                          r"the last complete checkpoint is step 20"):
        run(_cfg(), seeds=2, run_dir=DiskFullAt40(tmp_path / "r"), progress=False)
    resumed = run(_cfg(), seeds=2, run_dir=tmp_path / "r", progress=False)
    assert resumed.train["loss"].shape == (2, 40)


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
@pytest.mark.parametrize("cell", ["exprnn", "lru", "mingru", "minlstm", "urnn", "scornn", "indrnn", "cornn", "lem",
                                  "antisymmetric"])
def test_the_remedy_cells_train_through_the_runner_like_the_classic_ones(cell, tmp_path):
    """Seeds × a learning-rate sweep in one program; a member equals its single run; the
    diagnostics record ‖∂L/∂h_t‖ for every cell and spectra for those with a recurrent matrix."""
    cfg = _cfg(cell, steps=20)
    result = run(cfg, seeds=[1, 2], sweep={"learning_rate": [1e-2, 3e-3]}, run_dir=tmp_path / "r", progress=False)
    m = 3  # seed 2, learning rate 3e-3
    row = result.members[m]
    hp = {"learning_rate": jnp.float32(row["learning_rate"])}
    state, history = jax.jit(make_train(cfg))(jax.random.key(row["seed"]), hp)
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[m], result.state.params), state.params, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(result.eval["loss"][m], history.eval["loss"], rtol=2e-5, atol=1e-6)
    frames = results.load(tmp_path / "r")
    assert np.all(np.isfinite(frames.grad_norms.value)) and set(frames.grad_norms.t) == set(range(12))
    assert frames.spectra.empty == (cell in ("mingru", "minlstm", "cornn"))
    if cell in ("exprnn", "urnn", "scornn"):  # orthogonal / unitary: every eigenvalue on the unit circle, before and after training
        np.testing.assert_allclose(frames.spectra.radius, 1.0, atol=1e-5)


def test_a_field_added_since_a_run_was_written_is_no_difference_at_its_default():
    """Run directories written before a config field existed still resume, as long as the new
    field keeps its default; a non-default value is still a difference."""
    from rnn_jax import configs

    stored = configs.to_dict(_cfg())
    del stored["model"]["loop"]["mode"]  # as written before the loop options had a mode
    assert configs.differences(stored, configs.to_dict(_cfg())) == []
    parallel = _cfg("lru")
    parallel = TrainConfig(**{**{f: getattr(parallel, f) for f in ("task", "steps", "batch_size", "eval_every",
                                                                      "optimizer")},
                              "model": model_for(TASK, "lru", 8, loop=Options(mode="parallel"))})
    stored = configs.to_dict(_cfg("lru"))
    del stored["model"]["loop"]["mode"]
    assert configs.differences(stored, configs.to_dict(parallel)) == ["model.loop.mode: None -> 'parallel'"]


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_runs_that_differ_only_in_initialisation_share_their_compiled_programs():
    """In one process a second run compiles only what it does not share: nothing for the same
    config, the initialisation alone for another init option; and sharing never changes a
    value (the result equals the same run with nothing shared)."""
    jax.clear_caches()

    def cfg(cell="lstm", **cell_options):
        return TrainConfig(model=model_for(TASK, cell, 8, cell_options=cell_options), task=TASK, steps=20,
                           batch_size=8, eval_every=20)

    def compiled(c):
        return count_compilations(lambda: run(c, seeds=3, progress=False, diagnose_at=[0, 20]))

    first, _ = compiled(cfg(chrono=12.0))
    again, n_again = compiled(cfg(chrono=12.0))
    other_init, n_init = compiled(cfg())
    assert (n_again, n_init) == (0, 1)
    chex.assert_trees_all_equal(again.eval, first.eval)
    jax.clear_caches()
    alone, n_alone = compiled(cfg())
    assert n_alone >= 4  # init, chunk, evaluation and diagnostics
    chex.assert_trees_all_equal((other_init.eval, other_init.train, other_init.state.params),
                                (alone.eval, alone.train, alone.state.params))
    assert not np.array_equal(other_init.state.params["layers"][0]["fwd"]["b_ih"],
                              first.state.params["layers"][0]["fwd"]["b_ih"])


def test_programs_are_shared_only_between_equal_identities():
    """An option the step reads, or a cell registered again under the same name, changes the
    run identity; an init option changes only the initialisation's identity."""
    def key(cell="gru", with_init=False, model_options=None, **cell_options):
        model = model_for(TASK, cell, (8, 8) if model_options else 8, cell_options=cell_options, **(model_options or {}))
        cfg = TrainConfig(model=model, task=TASK)
        trainer = make_train(cfg) if with_init else make_train(cfg).for_steps()
        assert hash(trainer) == hash(trainer.for_steps() if not with_init else make_train(cfg))
        return trainer

    assert key(chrono=12.0) == key() and key(chrono=12.0, with_init=True) != key(with_init=True)
    assert key(reset_after=False) != key()
    assert key("rnn", activation="relu") != key("rnn") and key("rnn", init="keras") == key("rnn")
    assert key("lru", r_min=0.5, max_phase=1.0) == key("lru") and key("lru", normalize=False) != key("lru")
    assert key("exprnn", init="cayley") == key("exprnn") and key("mingru", log_space=False) != key("mingru")
    # per-layer options and the head's initialisation: the same rule, layer by layer
    two = {"layer_options": ({}, {})}
    assert key("rnn", model_options={"layer_options": ({"init": "keras"}, {})}) == key("rnn", model_options=two)
    assert key("rnn", model_options={"layer_options": ({"activation": "relu"}, {})}) != key("rnn", model_options=two)
    assert key(model_options={**two, "head_init": "glorot"}) == key(model_options=two)
    assert key(with_init=True, model_options={**two, "head_init": "glorot"}) != key(with_init=True, model_options=two)
    try:
        cells.register("gru_again", lambda **o: cells.get("gru", **o))
        before = key("gru_again")
        cells.register("gru_again", lambda **o: cells.get("gru", **o), overwrite=True)
        assert key("gru_again") != before
    finally:
        cell_base.REGISTRY.unregister("gru_again")


def test_runs_on_equal_array_tasks_share_their_compiled_programs():
    """An ArrayTask is identified by its data: a second task made from the same arrays (as an
    experiment makes it again) compiles nothing; other data makes another identity."""
    from rnn_jax.tasks.arrays import ArrayTask

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6, 2)).astype(np.float32), rng.normal(size=(40, 1)).astype(np.float32)

    def cfg(task):
        return TrainConfig(model=model_for(task, "rnn", 4), task=task, steps=4, batch_size=4, eval_every=4)

    first, second, other = ArrayTask(x, y), ArrayTask(x.copy(), y.copy()), ArrayTask(x, y + 1)
    assert first == second and hash(first) == hash(second) and first != other
    count_compilations(lambda: run(cfg(first), seeds=2, progress=False, diagnose_at=[]))
    again, n = count_compilations(lambda: run(cfg(second), seeds=2, progress=False, diagnose_at=[]))
    assert n == 0
    assert make_train(cfg(first)) == make_train(cfg(second)) != make_train(cfg(other))


def test_a_run_records_and_compiles_only_the_diagnostics_it_asks_for():
    everything = run(_cfg(), seeds=1, progress=False)
    only, programs_only = count_compilations(lambda: run(_cfg("gru", steps=20), seeds=1, progress=False,
                                                         diagnose=("grad_norms",)))
    assert set(everything.diagnostics[0]) >= set(diagnostics.DEFAULT)
    assert "credit_alignment" not in everything.diagnostics[0]  # recorded only when asked for
    assert diagnostics.RECORDABLE[0] == "grad_norms" and not set(only.diagnostics[0]) & set(diagnostics.RECORDABLE[1:])
    np.testing.assert_array_equal(only.diagnostics[0]["grad_norms"], everything.diagnostics[0]["grad_norms"])
    _, programs_none = count_compilations(lambda: run(_cfg("gru", steps=20), seeds=1, progress=False, diagnose=()))
    assert programs_none == 0 and programs_only == 1  # the same run again: only the smaller diagnostics program

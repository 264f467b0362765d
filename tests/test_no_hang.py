"""Nothing hangs: programs that would deadlock XLA:CPU run alone, and a stuck call stops the run.

The deadlock (:mod:`rnn_jax.runtime.concurrency`): jaxlib 0.10-0.11's batched LAPACK calls
wait on XLA:CPU's thread pool from inside it, so two at once on a 2-worker pool never
finish. An LSTM of hidden size 128 with 2 seeds hung in its step-0 diagnostics (the
Lyapunov QR on an ``[8, 256, 8]`` frame). The matrix runs every built-in cell through the
runner with diagnostics on, in subprocesses with a timeout, on one CPU device and on two, at
each hidden size and seed count of the reported setups (:data:`SIZES_AND_SEEDS`).
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells
from rnn_jax.runner import EXIT_HUNG, Watchdog, run
from rnn_jax.runtime import concurrency
from rnn_jax.runtime.watchdog import Watch

MATRIX = textwrap.dedent(
    """
    import os, sys, time
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=" + sys.argv[2]
    import numpy as np
    from rnn_jax import tasks
    from rnn_jax.runner import run
    from rnn_jax.training import TrainConfig, model_for
    from rnn_jax.optimizer import Optax
    task = tasks.get("adding", seq_len=int(sys.argv[4]), eval_size=32)
    for hidden, seeds in (map(int, pair.split(":")) for pair in sys.argv[3].split(",")):
        cfg = TrainConfig(model=model_for(task, sys.argv[1], hidden), task=task, steps=2, batch_size=20,
                          eval_every=1, optimizer=Optax("chain", Optax("clip", max_delta=1.0), Optax("rmsprop", learning_rate=0.001)))
        start = time.perf_counter()
        result = run(cfg, seeds=seeds, progress=False, diagnostics_batch=16)
        lyapunov = np.stack([d["lyapunov"] for _, d in sorted(result.diagnostics.items()) if "lyapunov" in d])
        # -inf is an exponent too (exprnn: a modReLU unit that is off collapses its direction)
        assert lyapunov.shape[:2] == (3, seeds) and not np.isnan(lyapunov).any(), lyapunov
        assert np.isfinite(lyapunov[..., 0]).all(), lyapunov
        print(sys.argv[1], hidden, seeds, f"{time.perf_counter() - start:.1f} s", flush=True)
    """
)


SIZES_AND_SEEDS = "32:3,128:2,256:1"
"""The runs of the matrix, ``hidden:seeds``: each hidden size and each seed count once. On one
CPU device the first two run two groups of members at once (groups of 2 up to 32 units, of 1
above), the case that deadlocked (hidden 128, 2 seeds); on two devices the first and last pad
the members to a multiple of the devices. The cross product (9 runs per cell) cost CI about
15 minutes more for no other placement."""


def _matrix(tmp_path, cell: str, devices: int, runs: str, seq_len: int = 20, timeout: float = 600):
    script = tmp_path / "matrix.py"
    script.write_text(MATRIX)
    try:
        done = subprocess.run([sys.executable, str(script), cell, str(devices), runs, str(seq_len)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "JAX_PLATFORMS": "cpu"})
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"{cell} ({runs}: hidden:seeds) on {devices} device(s) did not finish in {timeout} s; "
                    f"finished: {hung.stdout}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.splitlines()) == len(runs.split(","))


@pytest.mark.parametrize("devices", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2: 15 s, slow (the matrix too)
def test_the_lstm_of_the_published_setups_trains_with_two_seeds(tmp_path, devices):
    """The reported case: LSTM, hidden 128, 2 seeds (it hung in the step-0 diagnostics)."""
    _matrix(tmp_path, "lstm", devices, "128:2")


ZOO = ("urnn", "scornn", "indrnn", "cornn", "lem", "antisymmetric")


@pytest.mark.slow  # 0.5-1 min per cell and device count on 2 cores
@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("cell", [c for c in cells.available() if c not in ZOO])
def test_every_cell_size_and_seed_count_trains_with_diagnostics(tmp_path, cell, devices):
    # T = 8 halves the cost of T = 20 (compilation is most of it): 26 min for the matrix on
    # 2 cores at T = 20, which CI's budget cannot carry
    _matrix(tmp_path, cell, devices, SIZES_AND_SEEDS, seq_len=8, timeout=900)


@pytest.mark.slow  # about 30 s per cell on 2 cores
@pytest.mark.parametrize("cell", ZOO)
def test_the_remedy_zoo_trains_with_diagnostics_at_the_sizes_that_hung(tmp_path, cell):
    """The remedy zoo on two devices (the case with concurrent device threads) at the sizes and
    seed counts of the reported hang: the full matrix for six more cells would add about 18
    minutes to CI. scornn's step solves a linear system (LAPACK) in every training step."""
    _matrix(tmp_path, cell, 2, "128:2,256:3", seq_len=8, timeout=900)


def _compiled_text(fn, *shapes):
    return jax.jit(fn).lower(*(jnp.zeros(s) for s in shapes)).compile().as_text()


def test_batched_lapack_calls_are_found_in_compiled_programs():
    qr = lambda a: jnp.linalg.qr(a)[1]  # noqa: E731
    assert concurrency.blocking_kernel(_compiled_text(qr, (8, 256, 8))) == "lapack_sgeqrf_ffi"
    assert concurrency.blocking_kernel(_compiled_text(jax.vmap(qr), (2, 3, 16, 16))) == "lapack_sgeqrf_ffi"
    svd = lambda a: jnp.linalg.svd(a, compute_uv=False)  # noqa: E731
    assert concurrency.blocking_kernel(_compiled_text(svd, (4, 16, 16))) == "lapack_sgesdd_ffi"
    # one matrix never splits; and a program without LAPACK has nothing to find
    assert concurrency.blocking_kernel(_compiled_text(qr, (256, 8))) is None
    assert concurrency.blocking_kernel(_compiled_text(qr, (1, 256, 8))) is None
    assert concurrency.blocking_kernel(_compiled_text(lambda a: jnp.tanh(a @ a), (8, 16, 16))) is None


def test_only_the_affected_jaxlib_releases_run_programs_alone(monkeypatch):
    monkeypatch.setattr(concurrency, "jaxlib_affected", lambda: False)
    compiled = jax.jit(lambda a: jnp.linalg.qr(a)[1]).lower(jnp.zeros((8, 256, 8))).compile()
    assert concurrency.must_run_alone(compiled, jax.devices()) is None
    monkeypatch.setattr(concurrency, "jaxlib_affected", lambda: True)
    assert concurrency.must_run_alone(compiled, jax.devices()) == "lapack_sgeqrf_ffi"
    assert concurrency._release("0.10.2") == (0, 10, 2) and concurrency._release("0.11.0.dev20260701") == (0, 11, 0)


@pytest.mark.usefixtures("standard_dtype_promotion")
def test_a_program_that_must_run_alone_gives_the_same_values(monkeypatch):
    """Groups run one after another give the values of groups run together, bit for bit, and
    every program is checked."""
    from rnn_jax import tasks
    from rnn_jax.runner import placement
    from rnn_jax.training import TrainConfig, model_for

    task = tasks.get("adding", seq_len=10, eval_size=32)
    cfg = TrainConfig(model=model_for(task, "lstm", 8), task=task, steps=4, batch_size=8, eval_every=2)
    options = dict(seeds=2, progress=False, members_per_call=1, diagnose_at=[0, 4])
    together = run(cfg, **options)
    seen = {}

    def every_program_alone(self, name, compiled, devices):
        seen[name] = True
        return True

    monkeypatch.setattr(placement.MemberPrograms, "_check_alone", every_program_alone)
    alone = run(cfg, **options)
    assert set(seen) == {"init", "batches", "chunk", "evaluate", "diagnose"}
    np.testing.assert_array_equal(alone.train["loss"], together.train["loss"])
    np.testing.assert_array_equal(alone.diagnostics[4]["lyapunov"], together.diagnostics[4]["lyapunov"])


# --- the watchdog ---------------------------------------------------------------------------


def test_the_watchdog_limit_and_its_bad_settings():
    dog = Watchdog(factor=10, floor=60)
    assert dog.limit(None) == 60 and dog.limit(2.0) == 60 and dog.limit(30.0) == 300
    for bad, match in [(dict(floor=0), "watchdog.floor"), (dict(factor=0.5), "watchdog.factor"),
                       (dict(idle_cpu=2), "watchdog.idle_cpu"), (dict(poll=-1), "watchdog.poll")]:
        with pytest.raises(ValueError, match=match):
            Watchdog(**bad)
    with pytest.raises(TypeError, match="watchdog="):
        run(None, watchdog=5)


def test_a_stuck_call_is_reported_and_a_slow_busy_one_is_not():
    import threading
    import time

    lines = []
    watch = Watch(Watchdog(factor=2, floor=0.3, idle_window=0.5, poll=0.05), lambda: "at step 7", lines.append)
    try:
        with watch("chunk"):  # the first run: 0.1 s
            time.sleep(0.1)
        with watch("chunk"):  # busy for 1.2 s (past the 0.3 s limit), never idle: no line
            end = time.monotonic() + 1.2
            while time.monotonic() < end:
                sum(range(1000))
        assert lines == []
        stuck = threading.Event()
        with watch("diagnose"):  # idle, first run: the 0.3 s floor, then the idle window
            stuck.wait(2.0)
        assert len(lines) == 1
        assert "program 'diagnose' made no progress" in lines[0] and "at step 7" in lines[0]
        assert "its first run" in lines[0]
    finally:
        watch.close()


HANGS = textwrap.dedent(
    """
    import sys, threading
    import jax, numpy as np
    from rnn_jax import tasks
    from rnn_jax.runner import Watchdog, run
    from rnn_jax.training import TrainConfig, model_for, programs

    if sys.argv[2] == "hang":  # the third chunk (steps 10 -> 15) blocks forever, at 0% CPU
        original = programs.TrainChunk.__call__

        def hang_at_step_10(self, state, batches):
            def block(step):
                if int(np.max(step)) >= 10:
                    threading.Event().wait()
                return np.zeros(np.shape(step), np.float32)

            pause = jax.pure_callback(block, jax.ShapeDtypeStruct((), np.float32), state.step,
                                      vmap_method="expand_dims")
            state, metrics = original(self, state, batches)
            return state, {**metrics, "loss": metrics["loss"] + pause}

        programs.TrainChunk.__call__ = hang_at_step_10
    task = tasks.get("adding", seq_len=10, eval_size=32)
    cfg = TrainConfig(model=model_for(task, "gru", 8), task=task, steps=20, batch_size=8, eval_every=5)
    result = run(cfg, seeds=2, run_dir=sys.argv[1], progress=False, diagnose_at=[],
                 watchdog=Watchdog(floor=3, idle_window=2, poll=0.2))
    np.save(sys.argv[1] + ".loss.npy", result.train["loss"])
    """
)


@pytest.mark.slow  # three processes, 30 s on 2 cores; test_a_stuck_call_is_reported... is its quick sibling
@pytest.mark.usefixtures("standard_dtype_promotion")
def test_a_hung_run_stops_with_one_line_and_resumes(tmp_path):
    script = tmp_path / "hangs.py"
    script.write_text(HANGS)
    run_dir = str(tmp_path / "run")

    def start(mode):
        return subprocess.run([sys.executable, str(script), run_dir, mode], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})

    hung = start("hang")
    assert hung.returncode == EXIT_HUNG, hung.stderr[-2000:]
    line = [text for text in hung.stderr.splitlines() if text.startswith("rnn_jax watchdog")]
    assert len(line) == 1, hung.stderr[-2000:]
    assert "program 'chunk'" in line[0] and "at step 10" in line[0] and "members 0-1 (seeds 0, 1)" in line[0]
    assert f"run_dir={run_dir}" in line[0]
    status = json.loads(open(os.path.join(run_dir, "status.json")).read())
    assert status["step"] == 10 and status["hung"] == line[0]

    resumed = start("resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "hung" not in json.loads(open(os.path.join(run_dir, "status.json")).read())
    whole_dir = str(tmp_path / "whole")
    whole = subprocess.run([sys.executable, str(script), whole_dir, "whole"], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert whole.returncode == 0, whole.stderr[-2000:]
    np.testing.assert_array_equal(np.load(run_dir + ".loss.npy"), np.load(whole_dir + ".loss.npy"))

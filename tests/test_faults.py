"""Faults a long sweep meets: SIGKILL at random moments (also inside a checkpoint write),
Ctrl-C, a disk that fills up, the same command run twice.

Each test drives a real experiment CLI in a subprocess (``python -c DRIVER``, which can
inject a fault into the child before running ``experiments.adding_problem``) and compares
run directories bit for bit: every metrics and diagnostics array, status.json and the
arrays of the final checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import run_files

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--seeds", "2", "--seq-lens", "10", "--cells", "lstm", "--hidden-size", "8", "--steps", "200",
        "--eval-every", "10", "--batch-size", "16", "--no-progress"]
RUN = "lstm_T10"  # the one run directory adding_problem makes with these arguments

# Runs experiments.adding_problem with argv; FAULT injects a fault into this process:
#   commit:N  SIGKILL right before orbax renames the N-th checkpoint into place (all data written)
#   save:N:S  SIGKILL S seconds into the N-th checkpoint save (somewhere inside the write)
#   fsize     ignore SIGXFSZ so that a file-size limit set from outside makes writes fail (EFBIG)
DRIVER = r"""
import os, runpy, signal, sys, threading
fault = os.environ.get("FAULT", "")
if fault.startswith("commit:"):
    from orbax.checkpoint._src.path import atomicity
    target, calls, original = int(fault.split(":")[1]), [0], atomicity.AtomicRenameTemporaryPath.finalize
    async def finalize(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == target:
            os.kill(os.getpid(), signal.SIGKILL)
        return await original(self, *args, **kwargs)
    atomicity.AtomicRenameTemporaryPath.finalize = finalize
elif fault.startswith("save:"):
    from rnn_jax.io.checkpoint import Checkpointer
    _, n, delay = fault.split(":")
    target, calls, original = int(n), [0], Checkpointer.save
    def save(self, step, state):
        calls[0] += 1
        if calls[0] == target:
            threading.Timer(float(delay), os.kill, (os.getpid(), signal.SIGKILL)).start()
        return original(self, step, state)
    Checkpointer.save = save
elif fault == "fsize":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
sys.argv = ["adding_problem", *sys.argv[1:]]
runpy.run_module("experiments.adding_problem", run_name="__main__", alter_sys=True)
"""

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def start(run_dir: Path, fault: str = "", extra: tuple[str, ...] = ()) -> subprocess.Popen:
    env = {**os.environ, "FAULT": fault, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen([sys.executable, "-c", DRIVER, *ARGS, *extra, "--run-dir", str(run_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def complete(run_dir: Path, fault: str = "") -> None:
    code, out, err = finish(start(run_dir, fault))
    assert code == 0, err[-3000:]


def status(run_dir: Path) -> dict:
    path = run_dir / RUN / "status.json"
    return json.loads(path.read_text()) if path.exists() else {"step": 0}


def checkpoint_steps(run_dir: Path) -> list[int]:
    import orbax.checkpoint as ocp

    directory = run_dir / RUN / "checkpoints"
    if not directory.exists():
        return []
    with ocp.CheckpointManager(directory) as manager:
        return sorted(manager.all_steps())


def restore(run_dir: Path, step: int) -> dict:
    """Every array of checkpoint ``step`` (fails on a partial checkpoint)."""
    import orbax.checkpoint as ocp

    with ocp.CheckpointManager(run_dir / RUN / "checkpoints") as manager:
        return manager.restore(step, args=ocp.args.StandardRestore())


def assert_loadable_checkpoints(run_dir: Path) -> None:
    for step in checkpoint_steps(run_dir):
        restore(run_dir, step)


def assert_same_run(a: Path, b: Path) -> None:
    import jax

    files_a, files_b = run_files(a / RUN), run_files(b / RUN)
    assert sorted(files_a) == sorted(files_b)
    for name, x in files_a.items():
        y = files_b[name]
        assert sorted(x) == sorted(y)
        for key in x:
            assert x[key].dtype == y[key].dtype and x[key].tobytes() == y[key].tobytes(), f"{name}:{key}"
    assert status(a) == status(b)
    steps = checkpoint_steps(a)
    assert steps == checkpoint_steps(b) and steps
    leaves_a, tree_a = jax.tree.flatten(restore(a, steps[-1]))
    leaves_b, tree_b = jax.tree.flatten(restore(b, steps[-1]))
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run."""
    path = tmp_path_factory.mktemp("reference")
    complete(path)
    return path


@pytest.mark.slow
def test_same_command_twice_is_bit_identical(reference, tmp_path):
    complete(tmp_path)
    assert_same_run(reference, tmp_path)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_identical(reference, tmp_path):
    rng = random.Random(7)
    kills = []
    # two kills inside a checkpoint write (after all data, before the commit rename; and a
    # few milliseconds into the save), then kills at random times
    faults = ["commit:3", f"save:6:{rng.uniform(0.0, 0.02):.4f}"] + [""] * 3
    for fault in faults:
        before = status(tmp_path)["step"]
        proc = start(tmp_path, fault)
        if fault:
            code, _, err = finish(proc)
        else:
            time.sleep(rng.uniform(1.0, 10.0))
            proc.send_signal(signal.SIGKILL)
            code, _, err = finish(proc)
        if code == 0:  # finished before the kill came
            break
        assert code == -signal.SIGKILL, err[-3000:]
        kills.append((fault or "random", before, status(tmp_path)["step"], checkpoint_steps(tmp_path)))
        assert_loadable_checkpoints(tmp_path)  # whatever a resume could load is complete
    assert len(kills) >= 3, kills
    # a kill inside the commit leaves the checkpoint of that step unlisted
    assert 30 not in kills[0][3], kills
    if status(tmp_path).get("finished") is not True:
        complete(tmp_path)
    assert_same_run(reference, tmp_path)


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_ctrl_c_stops_cleanly_saves_and_says_how_to_resume(tmp_path):
    proc = start(tmp_path)
    deadline = time.monotonic() + 120
    while status(tmp_path)["step"] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert code == 130, err[-3000:]
    assert "Traceback" not in err
    assert "rerun the same command" in err
    step = status(tmp_path)["step"]
    assert 20 <= step < 200 and not status(tmp_path)["finished"]
    assert checkpoint_steps(tmp_path)[-1] == step  # the stop saved where it stopped
    assert f"step {step} is saved" in err
    complete(tmp_path)
    assert status(tmp_path)["finished"]


@pytest.mark.slow
def test_ctrl_c_then_resume_is_bit_identical(reference, tmp_path):
    proc = start(tmp_path)
    while status(tmp_path)["step"] < 50:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert finish(proc)[0] == 130
    complete(tmp_path)
    assert_same_run(reference, tmp_path)


@pytest.mark.slow
def test_disk_full_mid_run_fails_with_a_clear_message_and_resumes(reference, tmp_path):
    proc = start(tmp_path, "fsize")
    while status(tmp_path)["step"] < 50:
        time.sleep(0.05)
    # from now on no file may grow past 0 bytes: every write fails with EFBIG
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (0, 0))
    code, out, err = finish(proc)
    assert code == 1, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    # one message, and it is the last thing printed (orbax may log its own error above it)
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err[-3000:]
    assert "failed at step" in lines[0] and "last complete checkpoint is step" in lines[0]
    assert "File too large" in lines[0] or "No space" in lines[0]
    assert_loadable_checkpoints(tmp_path)
    assert not list((tmp_path / RUN / "metrics").glob(".tmp_*"))  # no half-written file left
    complete(tmp_path)
    assert_same_run(reference, tmp_path)

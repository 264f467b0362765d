"""The README tells the truth: its commands exist, its paths exist, its code runs."""

import importlib.util
import os
import re
import subprocess
import sys

import jax
import pytest

pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_starts_with_setup_then_the_two_commands():
    headings = re.findall(r"^## (.+)$", README, flags=re.M)
    assert headings[:2] == ["Set up", "The two commands"]
    commands = [line for line in _blocks("bash")[1].splitlines() if line.strip()]
    assert commands == ["python -m experiments.vanishing_gradients", "python -m pytest"]
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    install = 'pip install -e ".[dev,torch,keras,tensorboard]" -c requirements.lock'
    assert install in _blocks("bash")[0] and install in ci
    assert "\npython -m pytest\n" in ci
    lock = open(os.path.join(ROOT, "requirements.lock")).read()
    pinned = dict(line.split("==") for line in lock.splitlines() if line and not line.startswith("#"))
    assert {"jax", "jaxlib", "flax", "optax", "numpy", "torch", "pytest"} <= set(pinned)


def test_every_module_named_exists():
    modules = set(re.findall(r"python -m ([\w.]+)", README))
    assert "experiments.vanishing_gradients" in modules
    for module in modules - {"experiments.NAME"}:
        assert importlib.util.find_spec(module) is not None, module


def test_every_path_named_exists():
    paths = set(re.findall(r"`((?:notebooks|docs|experiments|benchmarks|rnn_jax)/[\w./-]+)`", README))
    paths |= set(re.findall(r"\]\(((?:docs|notebooks)/[^)]+)\)", README))
    assert paths
    for path in paths:
        assert os.path.exists(os.path.join(ROOT, path)), path


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for block in _blocks("python"):
        # Keras's own JAX code broadcasts by rank, which the test-wide "raise" refuses
        with jax.numpy_rank_promotion("allow" if "import keras" in block else "raise"):
            exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_several_devices_command_runs(tmp_path):
    (command,) = [b for b in _blocks("bash") if "XLA_FLAGS" in b]
    env_part, _, rest = command.strip().partition(" ")
    name, value = env_part.split("=", 1)
    args = rest.split()
    assert args[:2] == ["python", "-m"]
    result = subprocess.run([sys.executable, *args[1:], "--no-progress"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, name: value}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert os.path.exists(tmp_path / "runs" / "four_devices" / "figures" / "grad_norms.png")

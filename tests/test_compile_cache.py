"""The persistent compilation cache really hits on this jaxlib: a second process running the
same runner program compiles nothing new (jax-ml/jax#38445 reports CPU entries rejected on
some CPUs), and it can be turned off. With the executable cache
(rnn_jax/runtime/executables.py), the second process does not even trace the runner's
programs, and its results are the first's bit for bit."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = """
import json, sys
import jax
events = {"hits": 0, "misses": 0, "traced": []}
def listen(event, **kwargs):
    if event.endswith("/compilation_cache/cache_hits"):
        events["hits"] += 1
    elif event.endswith("/compilation_cache/cache_misses"):
        events["misses"] += 1
def timed(event, duration, **kwargs):
    if event == "/jax/core/compile/jaxpr_trace_duration" and kwargs.get("fun_name") in PROGRAMS:
        events["traced"].append(kwargs["fun_name"])
PROGRAMS = {"init", "batches", "chunk", "evaluate", "diagnose"}
jax.monitoring.register_event_listener(listen)
jax.monitoring.register_event_duration_secs_listener(timed)
from rnn_jax import compile_cache, tasks
from rnn_jax.runner import run
from rnn_jax.training import TrainConfig, model_for
task = tasks.get("adding", seq_len=8, eval_size=16)
with jax.numpy_dtype_promotion("standard"):
    result = run(TrainConfig(model=model_for(task, "gru", 4), task=task, steps=4, batch_size=4, eval_every=2),
                 seeds=2, progress=False)
losses = [float(v) for v in result.eval["loss"].ravel()] + [float(v) for v in result.train["loss"].ravel()]
print(json.dumps({**events, "losses": losses, "directory": jax.config.jax_compilation_cache_dir}))
"""


def _run(cache: str, **env) -> dict:
    env = {**os.environ, "RNN_JAX_COMPILE_CACHE": cache, "JAX_PLATFORMS": "cpu", **env}
    result = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _entries(directory) -> set[str]:
    return {name for name in os.listdir(directory) if not name.startswith(".")}


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
@pytest.mark.parametrize("executables", ["on", "off"])
def test_a_second_process_compiles_nothing_new(tmp_path, executables):
    """With the executable cache on (the default), the second process loads the runner's
    programs (a QR in the Lyapunov diagnostics among them) without tracing them; off, it
    traces them and reads JAX's cache."""
    cache = str(tmp_path / "cache")
    env = {} if executables == "on" else {"RNN_JAX_EXECUTABLE_CACHE": "off"}
    first = _run(cache, **env)
    assert first["directory"] == cache and first["misses"] > 0
    assert set(first["traced"]) == {"init", "batches", "chunk", "evaluate", "diagnose"}
    entries = _entries(cache)
    assert entries
    second = _run(cache, **env)
    assert second["misses"] == 0 and second["losses"] == first["losses"]
    if executables == "on":
        assert second["traced"] == [] and len(os.listdir(os.path.join(cache, "executables"))) == 5
    else:
        assert second["hits"] == first["misses"] and sorted(second["traced"]) == sorted(first["traced"])
        assert "executables" not in entries
    assert {e for e in _entries(cache) if not e.endswith("-atime")} == {e for e in entries if not e.endswith("-atime")}


@pytest.mark.slow  # 20-70 s on 2 cores: out of the default run (its 10-min budget); CI runs `pytest -m slow` first
def test_the_cache_can_be_turned_off(tmp_path):
    off = _run("off")
    assert off["directory"] is None and off["hits"] == 0

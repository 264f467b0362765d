"""Slow: each benchmark's --quick mode runs and writes valid JSON with the documented keys.
Benchmarks are measurements, not tests: nothing here asserts a speed."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = {
    "cells": {"cell", "T", "B", "I", "H", "ours_ms", "torch_ms", "flax_ms"},
    "gemm_floor": {"peak_gflops", "lstm_gflops"},
    "seeds": {"H", "seeds", "runner_s", "sequential_s"},
    "long_sequences": {"T", "remat", "step_ms", "peak_bytes", "compile_s"},
    "strategies": {"H", "devices", "strategy", "seconds", "vs_sequential"},
    "compile_cache": {"experiment", "cache", "wall_s", "compile_s", "trace_s", "lower_s", "backend_s", "programs"},
    "parallel_scan": {"cell", "T", "mode", "step_ms"},
    "main_job": {"contender", "cache", "wall_s", "vs_torch", "lstm_mse"},
    "weight_gradients": {"cell", "B", "H", "per_step_ms", "one_matmul_ms", "ratio", "auto"},
    "loop_body": {"variant", "weight_gradients", "T", "step_ms", "forward_body", "backward_body"},
    "op_profile": {"contender", "what", "ms_per_step"},
    "interactive": {"contender", "fit_s", "refit_lr_s", "fit_hidden_s", "refit_lr_vs_torch"},
    "newton": {"cell", "T", "mode", "forward_ms", "vs_sequential", "iterations"},
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_quick_benchmark_writes_json(name, tmp_path):
    out = tmp_path / f"{name}.json"
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--quick", "--allow-load", "--json", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["benchmark"] == name and data["quick"] is True and data["machine"]["cpus"]
    assert {"loaded", "before", "during_peak", "after"} <= set(data["load"]) and data["load"]["before"]["loadavg_1m"] >= 0
    measured = [r for r in data["records"] if not str(r.get("cell", "")).endswith("geomean")]
    assert measured
    for record in measured:
        assert KEYS[name] <= set(record), set(record)
        for key in KEYS[name] - {"cell", "remat", "strategy", "experiment", "cache", "mode", "contender", "auto",
                                 "variant", "weight_gradients", "what"}:
            assert record[key] == record[key] and record[key] > 0, (key, record)  # finite, positive


def test_the_device_benchmark_measures_each_part(tmp_path):
    out = tmp_path / "device.json"
    result = subprocess.run([sys.executable, "-m", "benchmarks.device", "--quick", "--budget", "600", "--allow-load",
                             "--json", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    records = json.loads(out.read_text())["records"]
    measured = {part: [r for r in records if r["part"] == part and "skipped" not in r]
                for part in ("cells", "newton", "runner")}
    assert {r["cell"] for r in measured["cells"]} == {"lstm", "gru", "rnn"}
    assert all(r["ours_ms"] > 0 and r["ours/flax"] > 0 for r in measured["cells"])
    assert {r["mode"] for r in measured["newton"]} == {"sequential", "full", "diagonal", "quasi_elk"}
    assert [r["seeds"] for r in measured["runner"]] == [1, 8, 64]
    assert all(r["member_steps_per_s"] > 0 for r in measured["runner"])

"""Several processes (``jax.distributed``): two local processes, each holding two CPU
devices, run one experiment with the seeds split between them; the results process 0
writes equal the single-process run's (to float32 rounding: a device then holds one member
instead of four, and XLA:CPU's batched matmuls may sum in another order)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["-m", "experiments.adding_problem", "--seeds", "4", "--seq-lens", "10", "--cells", "gru",
        "--hidden-size", "8", "--steps", "40", "--eval-every", "20", "--batch-size", "16", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict[str, str]:
    return {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT),
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    single = subprocess.run([sys.executable, *ARGS, "--run-dir", str(tmp_path / "single")], cwd=ROOT,
                            env=_env(1), capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    coordinator = f"localhost:{_free_port()}"
    procs = [subprocess.Popen([sys.executable, *ARGS, "--run-dir", str(tmp_path / "multi"), "--coordinator", coordinator,
                               "--num-processes", "2", "--process-id", str(i)],
                              cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert "results:" in outs[0][0] and "results:" not in outs[1][0]  # process 0 reports
    environment = json.loads((tmp_path / "multi" / "gru_T10" / "config.json").read_text())["environment"]
    assert environment["processes"] == 2 and len(environment["devices"]) == 4
    for sub in ("metrics", "diagnostics"):
        a, b = tmp_path / "single" / "gru_T10" / sub, tmp_path / "multi" / "gru_T10" / sub
        names = sorted(os.listdir(a))
        assert names == sorted(os.listdir(b)) and names
        for name in names:
            with np.load(a / name) as x, np.load(b / name) as y:
                for key in x.files:
                    np.testing.assert_allclose(y[key], x[key], rtol=1e-5, atol=1e-6, err_msg=f"{sub}/{name}:{key}")

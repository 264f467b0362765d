"""A benchmark refuses a busy machine: another process holding a core voids a ratio against
PyTorch (benchmarks/_load.py)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPIN = "# rnn_jax-test-spinner\nimport time\nend = time.time() + 60\nwhile time.time() < end: pass"


def test_a_benchmark_refuses_to_start_beside_a_busy_process(tmp_path):
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        out = tmp_path / "gemm.json"
        refused = subprocess.run([sys.executable, "-m", "benchmarks.gemm_floor", "--quick", "--json", str(out)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        spinner.kill()
    assert refused.returncode == 2, refused.stderr
    assert "refused: the machine is not quiet" in refused.stderr and f"pid {spinner.pid}" in refused.stderr
    assert "rnn_jax-test-spinner" in refused.stderr and not out.exists()


def test_the_load_sample_sees_a_busy_process_and_not_its_own_children():
    from benchmarks import _load

    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        seen = _load.others(1.0)
    finally:
        spinner.kill()
    assert all(b["pid"] != spinner.pid for b in seen["busiest"])  # our own child is part of the benchmark
    assert seen["loadavg_1m"] >= 0 and seen["cores"] >= 0

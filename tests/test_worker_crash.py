"""The suite's policy for a crashed worker (pyproject.toml's addopts): a test whose process
dies in native code runs once more; a test that fails in Python never does."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRASHES_ONCE = '''
import ctypes, os

def test_crashes_once():
    marker = os.path.join(os.path.dirname(__file__), "crashed")
    if not os.path.exists(marker):
        open(marker, "w").close()
        ctypes.string_at(0)  # a segfault, as inside XLA

def test_fails_in_python():
    assert 1 == 2
'''


@pytest.mark.slow  # two xdist workers start: 10-20 s
def test_a_crashed_test_reruns_once_and_a_failed_one_does_not(tmp_path):
    (tmp_path / "test_demo.py").write_text(CRASHES_ONCE)
    result = subprocess.run([sys.executable, "-m", "pytest", "-c", os.path.join(ROOT, "pyproject.toml"),
                             "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-n", "2", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    tail = result.stdout.splitlines()[-1]
    assert "1 failed, 1 passed, 1 rerun" in tail, result.stdout[-2000:]
    assert "RERUN test_demo.py::test_crashes_once" in result.stdout
    assert "FAILED test_demo.py::test_fails_in_python" in result.stdout

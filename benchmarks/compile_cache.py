"""The main experiment with a cold and a warm persistent compilation cache.

Each measurement is a fresh process running ``experiments.vanishing_gradients`` into a new
run directory: *cold* with an empty cache directory, *warm* with the cache the cold run
left. Wall time, and time spent compiling as JAX's monitoring reports it, are recorded: in
all (``compile_s``) and by stage, tracing to a jaxpr (``trace_s``), lowering to MLIR
(``lower_s``) and the backend compile or cache read (``backend_s``), with the number of
programs (``programs``), and the same for each program (printed). Wall times include the
imports. Cold and warm runs alternate.

    python -m benchmarks.compile_cache [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from benchmarks import _harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def measure(cache: str, run_dir: str, quick: bool) -> dict[str, float]:
    argv = ["--run-dir", run_dir, "--no-progress"] + (["--quick"] if quick else [])
    env = {**os.environ, "RNN_JAX_COMPILE_CACHE": cache, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", _harness.EXPERIMENT_DRIVER, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    args = _harness.parse(__doc__)
    repeats = args.repeats or (1 if args.quick else 2)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            cache = os.path.join(tmp, f"cache{rep}")
            for state in ("cold", "warm"):  # the warm run reads what the cold one wrote
                result = measure(cache, os.path.join(tmp, f"run_{state}{rep}"), args.quick)
                records.append({"experiment": "vanishing_gradients" + (" --quick" if args.quick else ""),
                                "cache": state, **result})
                print(f"{state}: {result['wall_s']:.1f} s, compiling {result['compile_s']:.1f} s", flush=True)
                print(_harness.program_lines(result.pop("by_program")), flush=True)
    _harness.finish("compile_cache", args, records, ["experiment", "cache", "wall_s", "compile_s", "trace_s", "lower_s",
                                                     "backend_s", "programs"])


if __name__ == "__main__":
    main()

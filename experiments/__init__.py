"""Experiment entry points: ``python -m experiments.NAME --help``.

On a CPU the runner's members are spread over one XLA host device per core: measured on a
2-core machine (``benchmarks.strategies``), 16 LSTM seeds sharded over 2 host devices ran
1.2-1.4x faster than over one, where a single device leaves a core idle. This has to be
set before JAX starts, so it happens here, when an experiment is started from the shell,
and only if ``XLA_FLAGS`` does not already choose a device count. It changes nothing on a
GPU or TPU (the runner uses the default backend's devices).
"""

import os
import sys

if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = " ".join(
        filter(None, [os.environ.get("XLA_FLAGS", ""), f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"])
    )

"""Test-wide JAX settings: strict dtype promotion and no implicit rank promotion.

These catch ``(h,) + (b, h)`` broadcasting bugs and silent float64/bfloat16 mixing
(the settings Equinox's own test suite uses).
"""


import os
import warnings

# Tests compile for a fast compile: XLA:CPU's elemental emitters and no backend (LLVM)
# optimisation, the options the runner gives its run-once programs
# (rnn_jax/runtime/compiler.py). A test's programs are tiny and run a few steps, so
# compiling is most of its time: an LSTM training step compiled in 5.3 s with XLA's defaults
# and in 0.8-1.1 s so (2026-12-07, 2 cores). The maths is the same, and the tolerances are
# unchanged; a test that compares a program with XLA's defaults passes them (XLA_DEFAULTS).
# Set before JAX makes its CPU backend; subprocesses that set XLA_FLAGS themselves replace it.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()
XLA_DEFAULTS = {"xla_backend_optimization_level": 3, "xla_cpu_use_fusion_emitters": True}
"""XLA:CPU's own defaults for the options :data:`FAST_COMPILE` changes (per-program options
win over ``XLA_FLAGS``)."""

import jax  # noqa: E402
import numpy as np
import pytest

# Tests compile from scratch (and their subprocesses too); tests/test_compile_cache.py turns
# the persistent compilation cache on in processes of its own.
os.environ["RNN_JAX_COMPILE_CACHE"] = "off"

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True)
def _mappings_below_the_cap():
    """A test worker compiles thousands of programs, and each holds memory mappings until
    JAX's caches are emptied; XLA:CPU segfaults when a process reaches the cap
    (:mod:`rnn_jax.runtime.memory_maps`). After each test, a worker over a quarter of the cap
    empties its caches; within a test, the runner's own check (at half) still guards a test
    that runs many runs (``test_reproduce`` reached it)."""
    yield
    from rnn_jax.runtime import memory_maps  # here, so that loading conftest imports no rnn_jax

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        memory_maps.relieve(0.25)


def tolerance(dtype) -> float:
    """Absolute tolerance for comparing two float computations of the same maths."""
    return {"float32": 1e-5, "float64": 1e-10}[jax.numpy.dtype(dtype).name]


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def standard_dtype_promotion():
    """optax's own code (e.g. Adam's bias correction) mixes Python floats and int32 counts,
    which strict promotion refuses; tests that run optax chains use standard promotion."""
    with jax.numpy_dtype_promotion("standard"):
        yield


def interrupt_after(step: int):
    """A :class:`~rnn_jax.io.rundir.RunDir` class whose run stops (``KeyboardInterrupt``, as
    Ctrl-C does) once the chunk ending at ``step`` is written."""
    from rnn_jax.io.rundir import RunDir

    class InterruptAfter(RunDir):
        def write_status(self, at, *args):
            super().write_status(at, *args)
            if at == step:
                raise KeyboardInterrupt

    return InterruptAfter


def run_files(run_dir) -> dict[str, dict[str, np.ndarray]]:
    """Every array of a run directory's metrics and diagnostics, by ``sub/file`` name."""
    from rnn_jax.io.rundir import RunDir

    return RunDir(run_dir).files()


def assert_gradients_match_finite_differences(loss, params, xs, directions: int = 3, eps: float = 1e-6) -> None:
    """``jax.grad(loss, argnums=(0, 1))(params, xs)`` against central differences of ``loss``
    along random directions in parameter and input space (call it under float64)."""
    import jax.numpy as jnp

    grads = jax.grad(loss, argnums=(0, 1))(params, xs)
    rng = np.random.default_rng(0)
    for _ in range(directions):
        dp = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape)), params)
        dx = jnp.asarray(rng.standard_normal(xs.shape))
        plus = loss(jax.tree.map(lambda a, d: a + eps * d, params, dp), xs + eps * dx)
        minus = loss(jax.tree.map(lambda a, d: a - eps * d, params, dp), xs - eps * dx)
        analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(dp)))
        np.testing.assert_allclose(analytic + jnp.vdot(grads[1], dx), (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)


def count_compilations(fn):
    """``fn()`` and how many programs it compiled (or read from the persistent cache)."""
    compiled = []

    def listen(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        return fn(), len(compiled)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)

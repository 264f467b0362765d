"""Compiled programs hold memory mappings, and XLA:CPU segfaults at the cap
(``vm.max_map_count``): before a run compiles, a process near the cap empties JAX's caches,
and the run's results do not change."""

import sys

import jax
import numpy as np
import pytest

from rnn_jax import tasks
from rnn_jax.runtime import memory_maps
from rnn_jax import TrainConfig, fit, model_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_the_mappings_and_the_cap_are_read():
    assert 0 < memory_maps.count() < memory_maps.cap()


def test_a_compiled_program_holds_mappings_until_its_cache_is_emptied(monkeypatch):
    before = memory_maps.count()
    programs = [jax.jit(lambda x, k=k: x * k + 1.0) for k in range(1, 31)]
    for program in programs:
        program(np.float32(1.0)).block_until_ready()
    held = memory_maps.count()
    assert held > before + len(programs)  # several mappings per program
    monkeypatch.setattr(memory_maps, "cap", lambda: held)  # now at the cap
    with pytest.warns(RuntimeWarning, match="memory mappings, over 50% of the cap"):
        assert memory_maps.relieve()
    assert all(program._cache_size() == 0 for program in programs)
    assert memory_maps.count() < held - len(programs)


def test_below_the_fraction_nothing_is_emptied():
    program = jax.jit(lambda x: x + 1.0)
    program(np.float32(1.0))
    assert not memory_maps.relieve(1.0)
    assert program._cache_size() == 1


@pytest.mark.parametrize("fraction", [0.0, 1.5, -1.0])
def test_a_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(ValueError, match="fraction"):
        memory_maps.relieve(fraction)


@pytest.mark.usefixtures("standard_dtype_promotion")
def test_a_fit_that_empties_the_caches_first_gives_the_same_result(monkeypatch):
    task = tasks.get("adding", seq_len=10)
    cfg = TrainConfig(steps=6, batch_size=4, eval_every=3)
    model = model_for(task, "gru", 8)
    _, first = fit(model, task, cfg, seed=1)
    monkeypatch.setattr(memory_maps, "cap", lambda: 1)
    with pytest.warns(RuntimeWarning, match="caches were emptied"):
        _, second = fit(model, task, cfg, seed=1)
    np.testing.assert_array_equal(first["eval"]["loss"], second["eval"]["loss"])
    np.testing.assert_array_equal(first["train"]["loss"], second["train"]["loss"])

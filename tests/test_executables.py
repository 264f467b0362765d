"""The executable cache: a key that changes with every part it names, a round trip that
compiles nothing and gives the same bits, and entries refused when others could have
written them or when they fail their integrity check (rnn_jax/runtime/executables.py)."""

import dataclasses
import os
import stat
import warnings
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import tasks
from rnn_jax.runtime import compiler, executables
from rnn_jax.training import TrainConfig, model_for
from rnn_jax.training.programs import Evaluate
from rnn_jax.training.trainer import Trainer
from tests.conftest import count_compilations


def _compile(x, axis=0, **jit_kwargs):
    """``jnp.sum`` (code a key can name) over a static ``axis``, through the cache."""
    jit_kwargs = {"static_argnums": (1,), **jit_kwargs}
    return compiler.compile(jnp.sum, "sum", "cpu", False, (x, axis), **jit_kwargs)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "executables"
    monkeypatch.setattr(executables, "directory", lambda: str(folder))
    monkeypatch.setattr(executables, "_refused", set())
    return folder


def _key(x, axis=0, parts=("sum", "cpu", {}, {"static_argnums": (1,)})):
    return executables.program_key(jnp.sum, (x, axis), {}, parts)


def test_the_key_changes_with_every_part_it_names(monkeypatch):
    x = jnp.ones((3, 4))
    base = _key(x)
    assert _key(jnp.ones((3, 4))) == base  # the values do not matter, only what they are
    with jax.default_matmul_precision("highest"):
        in_context = _key(x)
    variants = {
        "shape": _key(jnp.ones((3, 5))),
        "dtype": _key(jnp.ones((3, 4), jnp.int32)),
        "weak type": _key(jnp.asarray(1.0)) != _key(jnp.asarray(1.0, jnp.float32)) and _key(jnp.asarray(1.0)),
        "sharding": _key(jax.device_put(x, jax.sharding.NamedSharding(
            jax.sharding.Mesh(jax.devices()[:1], ("m",)), jax.sharding.PartitionSpec("m")))),
        "static value": _key(x, 1),
        "static type": _key(x, (0,)),
        "jit arguments": _key(x, parts=("sum", "cpu", {}, {"static_argnums": (1,), "donate_argnums": (0,)})),
        "compiler options": _key(x, parts=("sum", "cpu", {"xla_backend_optimization_level": 0},
                                           {"static_argnums": (1,)})),
        "a lowering setting": in_context,
    }
    for part, make in (("source", "_source_digest"), ("host CPU", "cpu")):
        with monkeypatch.context() as m:
            m.setattr(executables, make, lambda: "changed")
            executables.environment.cache_clear()
            variants[part] = _key(x)
        executables.environment.cache_clear()
    with monkeypatch.context() as m:
        m.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_fast_math=false")
        executables.environment.cache_clear()
        variants["XLA_FLAGS"] = _key(x)
    executables.environment.cache_clear()
    assert _key(x) == base
    missing = [part for part, key in variants.items() if key == base]
    assert not missing, f"the key does not change with: {missing}"
    assert len(set(variants.values())) == len(variants)


def test_a_program_s_config_is_named_field_by_field():
    task = tasks.get("adding", seq_len=8, eval_size=4)
    cfg = TrainConfig(model=model_for(task, "gru", 4), task=task, steps=4, batch_size=2, eval_every=2)
    described = executables.describe(Evaluate(Trainer(cfg)))
    assert described == executables.describe(Evaluate(Trainer(dataclasses.replace(cfg))))
    for changed in (dataclasses.replace(cfg, batch_size=3), dataclasses.replace(cfg, model=model_for(task, "lstm", 4)),
                    dataclasses.replace(cfg, task=tasks.get("adding", seq_len=9, eval_size=4))):
        assert executables.describe(Evaluate(Trainer(changed))) != described


class Local:  # a class this package's digest does not cover, as one defined in a notebook
    pass


@pytest.mark.parametrize("value", [lambda x: x, Local(), Local, (lambda k: lambda x: x * k)(2)],
                         ids=["lambda", "outside instance", "outside class", "closure"])
def test_what_a_key_cannot_name_is_compiled_and_not_stored(value, cache):
    with pytest.raises(executables.Unkeyable):
        _key(jnp.ones(2), value)
    identity = lambda x, v: x  # noqa: E731, a function a key cannot name
    compiled = compiler.compile(identity, "identity", "cpu", False, (jnp.ones(2), value), static_argnums=(1,))
    assert np.array_equal(compiled(jnp.ones(2)), jnp.ones(2))
    assert not cache.exists() or not os.listdir(cache)


def test_a_stored_program_loads_without_compiling_and_gives_the_same_bits(cache):
    x = jax.random.normal(jax.random.key(0), (5, 3))
    first = _compile(x)
    [entry] = os.listdir(cache)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700 and stat.S_IMODE(os.stat(cache / entry).st_mode) == 0o600
    jax.clear_caches()
    second, compiled = count_compilations(lambda: _compile(x))
    assert compiled == 0
    assert np.array_equal(np.asarray(second(x)), np.asarray(first(x)))
    assert _compile(x, 1) is not None and len(os.listdir(cache)) == 2  # another static value, another entry


def _flip_byte(path, offset):
    with open(path, "r+b") as entry:
        entry.seek(offset)
        byte = entry.read(1)
        entry.seek(offset)
        entry.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("spoil, reason", [
    (lambda path: os.chmod(path, 0o666), "writable by group or others"),
    (lambda path: os.chmod(os.path.dirname(path), 0o777), "writable by group or others"),
    (lambda path: os.chown(path, os.getuid() + 12345, -1), "owned by uid"),
    (lambda path: _flip_byte(path, os.path.getsize(path) // 2), "fails its integrity check"),
], ids=["group-writable entry", "world-writable folder", "another owner", "corrupted"])
def test_an_entry_others_could_have_written_or_that_is_corrupt_is_refused(spoil, reason, cache):
    if reason == "owned by uid" and os.getuid() != 0:
        pytest.skip("changing an entry's owner needs root")
    x = jnp.arange(6.0).reshape(2, 3)
    expected = np.asarray(_compile(x)(x))
    [entry] = os.listdir(cache)
    spoil(str(cache / entry))
    jax.clear_caches()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again, compiled = count_compilations(lambda: _compile(x))
    messages = [str(w.message) for w in caught if "executable cache" in str(w.message)]
    assert len(messages) == 1 and reason in messages[0] and "compiling the program instead" in messages[0]
    assert "\n" not in messages[0]
    assert compiled == 1 and np.array_equal(np.asarray(again(x)), expected)


def test_the_cache_is_off_with_the_compile_cache_or_alone(monkeypatch, tmp_path):
    def compile_cache(folder):  # JAX's setting as executables reads it, without touching this process's JAX
        monkeypatch.setattr(executables, "jax", SimpleNamespace(config=SimpleNamespace(jax_compilation_cache_dir=folder)))

    compile_cache(None)
    assert executables.directory() is None
    compile_cache(str(tmp_path))
    assert executables.directory() == str(tmp_path / "executables")
    monkeypatch.setenv(executables.ENV, "off")
    assert executables.directory() is None

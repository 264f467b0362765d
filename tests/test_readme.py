"""The README tells the truth: its commands exist, its paths exist (tests/test_docs.py runs
its code with the documentation pages'), and it stays a front page."""

import importlib.util
import os
import re

from .test_docs import blocks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def _blocks(language):
    return blocks(README, language)


def test_starts_with_setup_then_the_two_commands():
    headings = re.findall(r"^## (.+)$", README, flags=re.M)
    assert headings[:2] == ["Set up", "The two commands"]
    commands = [line for line in _blocks("bash")[1].splitlines() if line.strip()]
    assert commands == ["python -m experiments.vanishing_gradients", "python -m pytest"]
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    install = 'pip install -e ".[dev,docs,torch,keras,tensorboard]" -c requirements.lock'
    assert install in _blocks("bash")[0] and install in ci
    assert "\npython -m pytest\n" in ci
    lock = open(os.path.join(ROOT, "requirements.lock")).read()
    pinned = dict(line.split("==") for line in lock.splitlines() if line and not line.startswith("#"))
    assert {"jax", "jaxlib", "flax", "optax", "numpy", "torch", "pytest"} <= set(pinned)


def test_every_module_named_exists():
    modules = set(re.findall(r"python -m ([\w.]+)", README))
    assert "experiments.vanishing_gradients" in modules
    for module in modules - {"experiments.NAME"}:
        assert importlib.util.find_spec(module) is not None, module


def test_every_path_named_exists():
    paths = set(re.findall(r"`((?:notebooks|docs|experiments|benchmarks|rnn_jax)/[\w./-]+)`", README))
    paths |= set(re.findall(r"\]\(((?:docs|notebooks|benchmarks|experiments)/[^)]*)\)", README))
    assert paths
    for path in paths:
        assert os.path.exists(os.path.join(ROOT, path)), path


def test_is_a_front_page_of_at_most_10_kb():
    assert len(README.encode()) <= 10_000

"""Packaging tells the truth: the declared Python floor is the one CI runs on, every public
module is an attribute of ``rnn_jax`` after ``import rnn_jax``, and that import stays light."""

import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_declared_python_floor_is_the_interpreter_under_test_in_ci():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        floor = tomllib.load(f)["project"]["requires-python"]
    assert floor == ">=3.11"  # enum.StrEnum and tomllib are 3.11
    if os.environ.get("CI"):  # .ci/run installs on the floor, so CI proves it
        assert sys.version_info[:2] == (3, 11)


def test_subpackages_are_attributes_and_import_rnn_jax_stays_light():
    code = (
        "import sys, rnn_jax\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'orbax', 'pandas', 'matplotlib', 'torch', 'optax', 'tqdm'})\n"
        "assert heavy == [], heavy\n"
        "assert 'rnn_jax.runner' not in sys.modules\n"
        "assert rnn_jax.tasks.get('adding').name == 'adding'\n"
        "assert callable(rnn_jax.runner.run) and callable(rnn_jax.io.results.load)\n"
        "assert 'runner' in dir(rnn_jax) and 'fit' in dir(rnn_jax)\n"
        "from rnn_jax import Optax, TrainConfig, cells, fit, model_for, run, tasks, unroll\n"
        "assert run is rnn_jax.runner.run and fit is rnn_jax.runner.fit and Optax is rnn_jax.optimizer.Optax\n"
        "assert set(rnn_jax.__all__) >= {'Optax', 'TrainConfig', 'cells', 'fit', 'model_for', 'run', 'tasks', 'unroll'}\n"
        "try:\n    rnn_jax.no_such_module\nexcept AttributeError as e:\n    assert 'no_such_module' in str(e)\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr

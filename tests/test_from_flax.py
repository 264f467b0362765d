"""``cells.from_flax``: Flax cells through our unroll, runner and diagnostics.

Against Flax's own ``nnx.RNN`` / ``nn.RNN`` (outputs and final carry, with ``seq_lengths``),
a user-written NNX cell through the runner (seed k == the single run with seed k, exact
resume), and probe gradients against a Python loop over the Flax module.
"""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

nnx = pytest.importorskip("flax.nnx")
linen = pytest.importorskip("flax.linen")

from rnn_jax import cells, diagnostics, tasks, unroll  # noqa: E402
from rnn_jax.optimizer import Optax  # noqa: E402

from rnn_jax.runner import run  # noqa: E402
from rnn_jax.training import TrainConfig, make_train, model_for  # noqa: E402

from .conftest import interrupt_after, run_files  # noqa: E402

BUILT_IN = [nnx.LSTMCell, nnx.OptimizedLSTMCell, nnx.GRUCell, nnx.SimpleCell,
            linen.LSTMCell, linen.OptimizedLSTMCell, linen.GRUCell, linen.SimpleCell]
IDS = [f"{'nnx' if issubclass(c, nnx.Module) else 'linen'}_{c.__name__}" for c in BUILT_IN]


class LeakyCell(nnx.RNNCellBase):
    """A user-written NNX cell: h' = (1 - a) h + a tanh(W x + U h), a = σ(α) learned per unit."""

    def __init__(self, in_features: int, hidden_features: int, *, rngs: nnx.Rngs):
        self.hidden_features = hidden_features
        self.dense_i = nnx.Linear(in_features, hidden_features, rngs=rngs)
        self.dense_h = nnx.Linear(hidden_features, hidden_features, use_bias=False, rngs=rngs)
        self.alpha = nnx.Param(jnp.zeros((hidden_features,)))

    def __call__(self, carry, x):
        a = jnp.broadcast_to(jax.nn.sigmoid(self.alpha[...]), carry.shape)
        h = (1 - a) * carry + a * jnp.tanh(self.dense_i(x) + self.dense_h(carry))
        return h, h

    def initialize_carry(self, input_shape, rngs=None):
        return jnp.zeros((*input_shape[:-1], self.hidden_features))

    @property
    def num_feature_axes(self) -> int:
        return 1


def _flax_rnn(cell_type, params, xs, lengths, reverse):
    """Flax's own RNN over the same parameters (keep_order: outputs aligned with the inputs)."""
    if issubclass(cell_type, nnx.Module):
        module = cell_type(3, 6, rngs=nnx.Rngs(0))
        graphdef, state = nnx.split(module, nnx.Param)
        nnx.replace_by_pure_dict(state, params)
        rnn = nnx.RNN(nnx.merge(graphdef, state), return_carry=True, reverse=reverse, keep_order=True)
        return rnn(xs, seq_lengths=lengths)
    rnn = linen.RNN(cell_type(features=6), return_carry=True, reverse=reverse, keep_order=True)
    return rnn.apply({"params": {"cell": params}}, xs, seq_lengths=lengths)


@pytest.mark.parametrize("cell_type", BUILT_IN, ids=IDS)
def test_a_flax_cell_through_our_unroll_equals_flaxs_rnn(cell_type, key):
    cell = cells.from_flax(cell_type)
    params = cell.init(key, 3, 6)
    xs = jax.random.normal(jax.random.key(1), (4, 9, 3))
    lengths = jnp.array([9, 4, 1, 6])
    valid = (jnp.arange(9)[None] < lengths[:, None])[..., None]
    for reverse in (False, True):
        final, hs = unroll(cell, params, xs, lengths=lengths, reverse=reverse)
        ref_final, ref_hs = _flax_rnn(cell_type, params, xs, lengths, reverse)
        # Flax computes the padded steps too; ours emit zeros there
        np.testing.assert_allclose(jnp.where(valid, ref_hs, 0.0), hs, atol=1e-6)
        if not reverse:  # Flax's reversed final carry is the one at the padded end, not at t = 0
            chex.assert_trees_all_close(final, ref_final, atol=1e-6)


def test_probe_gradients_of_a_flax_lstm_equal_a_python_loop(key):
    """The probe enters h, the last element of Flax's (c, h) carry: dL/dh_t through later steps."""
    cell = cells.from_flax(nnx.LSTMCell)
    params = cell.init(key, 3, 6)
    xs = jax.random.normal(jax.random.key(1), (2, 5, 3))
    module = nnx.LSTMCell(3, 6, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(module, nnx.Param)
    nnx.replace_by_pure_dict(state, params)
    module = nnx.merge(graphdef, state)

    def loss_from(hs):
        return jnp.sum(jnp.sin(hs[:, :, 0])) + jnp.sum(hs[:, -1] ** 2)

    def loop(eps):  # eps[t] added to h_t inside the carry, by hand
        carry, hs = module.initialize_carry((2, 3), nnx.Rngs(0)), []
        for t in range(5):
            (c, h), _ = module(carry, xs[:, t])
            carry = (c, h + eps[t])
            hs.append(carry[1])
        return loss_from(jnp.stack(hs, 1))

    zeros = jnp.zeros((5, 2, 6))
    got = jax.grad(lambda p: loss_from(unroll(cell, params, xs, probe=p)[1]))(zeros)
    np.testing.assert_allclose(got, jax.grad(loop)(zeros), atol=1e-6)
    assert float(jnp.min(jnp.abs(got[0]))) > 0  # the first step's gradient is really there


TASK = tasks.get("adding", seq_len=12, eval_size=64)


InterruptAfter20 = interrupt_after(20)


@pytest.mark.slow  # ~25 s on 2 cores; CI runs `pytest -m slow` on every submission
@pytest.mark.usefixtures("standard_dtype_promotion")
def test_a_user_nnx_cell_trains_through_the_runner_with_seeds_and_exact_resume(tmp_path):
    """The cell is passed as an object, never registered; resume gets a new object made by the
    same code, which the run directory recognises."""
    def config():
        return TrainConfig(model=model_for(TASK, cells.from_flax(LeakyCell), 8), task=TASK, steps=40, batch_size=8,
                           eval_every=20, optimizer=Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=0.01)))

    cfg = config()
    full = run(cfg, seeds=4, run_dir=tmp_path / "full", progress=False)
    trainer = jax.jit(make_train(cfg))
    for k in (0, 3):
        hp = {"learning_rate": jnp.float32(1e-2)}
        state, history = trainer(jax.random.key(k), hp)
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], full.state.params), state.params,
                                    rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(full.eval["loss"][k], history.eval["loss"], rtol=2e-5, atol=1e-6)
    assert full.eval["loss"][:, -1].mean() < full.eval["loss"][:, 0].mean()  # it learns
    with pytest.raises(KeyboardInterrupt):
        run(cfg, seeds=4, run_dir=InterruptAfter20(tmp_path / "resumed"), progress=False)
    assert json.loads((tmp_path / "resumed" / "status.json").read_text())["step"] == 20
    resumed = run(config(), seeds=4, run_dir=tmp_path / "resumed", progress=False)
    chex.assert_trees_all_equal(full.state.params, resumed.state.params)
    a, b = run_files(tmp_path / "full"), run_files(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for name in a:
        for field in a[name]:
            np.testing.assert_array_equal(a[name][field], b[name][field], err_msg=f"{name}:{field}")
    # diagnostics: the probe gradients are recorded for the Flax cell; it has no W_hh spectra
    assert np.all(np.isfinite(a["diagnostics/step_00000000.npz"]["grad_norms"]))


class OtherLeakyCell(LeakyCell):
    """LeakyCell with another step: a run directory must tell the two apart."""

    def __call__(self, carry, x):
        h = jnp.tanh(self.dense_i(x) + self.dense_h(carry))
        return h, h


@pytest.mark.usefixtures("standard_dtype_promotion")
def test_resume_refuses_a_different_cell_object_and_lists_the_difference(tmp_path):
    def config(cell):
        return TrainConfig(model=model_for(TASK, cell, 4), task=TASK, steps=2, batch_size=4, eval_every=1)

    where = dict(seeds=1, run_dir=tmp_path, progress=False, diagnose_at=())

    run(config(cells.from_flax(LeakyCell)), **where)
    stored = json.loads((tmp_path / "config.json").read_text())["train_config"]["model"]["cell"]["__cell__"]
    assert stored["name"] == "LeakyCell" and set(stored["code"]) >= {"init", "step", "initial_carry"}
    assert run(config(cells.from_flax(LeakyCell)), **where).eval_steps[-1] == 2  # same code
    for other, changed in [(cells.from_flax(OtherLeakyCell), "model.cell.__cell__.name"),
                           (cells.from_flax(LeakyCell, param_dtype=jnp.float64), "model.cell.__cell__.options"),
                           ("lstm", "model.cell:")]:
        with pytest.raises(ValueError, match="holds a different run") as error:
            run(config(other), **where)
        assert changed in str(error.value)
    renamed = type("LeakyCell", (OtherLeakyCell,), {})  # same name, other code
    with pytest.raises(ValueError, match=r"model\.cell\.__cell__\.code\.step"):
        run(config(cells.from_flax(renamed)), **where)


def test_jacobian_norms_of_a_flax_cell(key):
    cell = cells.from_flax(nnx.SimpleCell)
    params = cell.init(key, 1, 6)
    jac = diagnostics.jacobian_norms(cell, params, jax.random.normal(jax.random.key(1), (2, 12, 1)))
    assert jac.shape == (12,) and abs(float(jac[-1]) - 1.0) < 1e-4  # ∂h_T/∂h_T = I
    assert float(jac[0]) < float(jac[-1])  # a tanh cell with PyTorch-scale weights contracts


def test_bad_flax_cells_are_refused(key):
    with pytest.raises(TypeError, match="pass the class"):
        cells.from_flax(nnx.GRUCell(3, 4, rngs=nnx.Rngs(0)))
    with pytest.raises(TypeError, match="neither an nnx.RNNCellBase"):
        cells.from_flax(nnx.Linear)
    cell = cells.from_flax(nnx.GRUCell)
    foreign = jax.tree.map(lambda a: a, nnx.to_pure_dict(nnx.state(nnx.GRUCell(5, 7, rngs=nnx.Rngs(0)), nnx.Param)))
    with pytest.raises(ValueError, match="sizes=\\(input_size, hidden_size\\)"):
        unroll(cell, foreign, jnp.zeros((2, 3, 5)))
    declared = cells.from_flax(nnx.GRUCell, sizes=(5, 7))
    assert unroll(declared, foreign, jnp.zeros((2, 3, 5)))[1].shape == (2, 3, 7)


def test_a_cell_objects_fingerprint_is_the_same_in_another_process():
    """Resume happens in a new process: the digests must not depend on ids or addresses."""
    import subprocess
    import sys

    from rnn_jax.cells import fingerprint

    code = ("import json; from flax import nnx; from rnn_jax import cells; from rnn_jax.cells import fingerprint; "
            "print(json.dumps([fingerprint.describe(c) for c in (cells.from_flax(nnx.GRUCell), cells.get('lstm'))]))")
    other = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    here = [fingerprint.describe(c) for c in (cells.from_flax(nnx.GRUCell), cells.get("lstm"))]
    assert other == here
    assert here[0]["code"]["step"] != fingerprint.describe(cells.from_flax(nnx.SimpleCell))["code"]["step"]

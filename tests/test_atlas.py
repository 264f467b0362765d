"""The atlas (experiments/atlas.py): its measures on hand-made gradients, and a --quick run
with a user's cell beside the built-in ones."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from experiments import atlas
from rnn_jax import cells, optimizer
from rnn_jax.cells import base


def test_decay_and_horizon_on_a_known_geometric_gradient():
    # ‖∂L/∂h_t‖ = 10^(-(T-1-t)/50): two decades lost per 100 steps back, 3 decades at 150 steps
    T = 401
    log_norms = -(T - 1 - np.arange(T))[None, :] / 50.0
    assert atlas.decay_per_100(log_norms) == pytest.approx([2.0])
    assert atlas.horizon(log_norms) == [151]  # the first step more than 3 decades below: 151 back
    assert atlas.horizon(np.zeros((2, T))).tolist() == [T, T]  # a flat gradient reaches the first step


def test_solved_needs_three_seeds_in_four_and_a_nan_is_not_solved():
    assert atlas.solved(np.array([0.01, 0.05, 0.1, 0.9]))
    assert not atlas.solved(np.array([0.01, 0.05, 0.2, 0.9]))
    assert not atlas.solved(np.array([0.01, 0.05, np.nan, 0.9]))


def test_run_names_round_trip_with_underscores_in_task_and_cell():
    assert atlas.parse_name(atlas.run_name("first_input", 500, "my_cell")) == ("first_input", 500, "my_cell")


def test_every_authors_setup_names_a_known_cell_and_makes_its_optimiser():
    cfg = atlas.Config()
    for cell in atlas.SETUPS:
        assert cell in cells.available()
        setup = atlas.setup_of(cfg, cell)
        optimizer.build(setup.optax(setup.learning_rate))  # an option optax refuses fails here
        cells.get(cell, **setup.options_of(cell))


def test_quick_atlas_writes_its_figures_and_table_with_a_user_cell(tmp_path, standard_dtype_promotion):
    from flax import nnx

    cells.register("flax_gru_for_atlas", lambda **o: cells.from_flax(nnx.GRUCell, **o))
    try:
        run_dir = str(tmp_path / "atlas")
        both = dict(quick=True, run_dir=run_dir, cells=("rnn", "flax_gru_for_atlas"), progress=False)
        atlas.main(atlas.Config(**both, tasks=("adding",), lengths=(6, 12)))
        atlas.main(atlas.Config(**both, tasks=("copy",), lengths=(6,), cost_steps=0))  # a second slice adds up
    finally:
        base.REGISTRY.unregister("flax_gru_for_atlas")
    frame = pd.read_csv(os.path.join(run_dir, "atlas.csv"))
    assert set(frame.cell) == {"rnn", "flax_gru_for_atlas"}
    assert set(zip(frame.task, frame["T"])) == {("adding", 6), ("adding", 12), ("copy", 6)}
    adding = frame.task == "adding"  # scored at the last step; copy at every step, so no horizon
    assert frame.loss_ratio.gt(0).all() and frame[adding].horizon_init.between(0, 12).all()
    assert frame[~adding].horizon_init.isna().all()
    assert frame.lyapunov_init.notna().all()
    cost = json.load(open(os.path.join(run_dir, atlas.COST)))
    assert set(cost) == {"rnn", "flax_gru_for_atlas"} and cost["rnn"]["12"]["step_ms"] > 0
    for name in ("heat_map", "horizon", "cost"):
        assert os.path.getsize(os.path.join(run_dir, "figures", f"{name}.png")) > 10_000
    longest = pd.read_csv(os.path.join(run_dir, "longest.csv"))
    assert len(longest) == 4 and longest.set_index("task").at_T.to_dict() == {"adding": 12, "copy": 6}
    table = open(os.path.join(run_dir, "atlas.md")).read().splitlines()
    assert len(table) == 4 and table[2].startswith("| tanh RNN | plain RNN |") and "flax_gru_for_atlas" in table[3]

"""Every notebook runs top to bottom on a fresh kernel.

Like papermill, a cell of small parameter values is injected right after the notebook's cell
tagged ``parameters``, so the executed version is fast; the notebooks themselves keep their
full-size defaults (each runs in a few minutes on a 2-core CPU).
"""

import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = {
    "01_quickstart": "SEQ_LEN = 20\nHIDDEN = 8\nSTEPS = 40",
    "02_vanishing_gradients": "SEQ_LEN = 20\nHIDDEN = 8\nSEEDS = 2\nSCALES = (0.5, 1.5)\nSTEPS = 20\nCREDIT_T = 16\nCREDIT_LAG = 6\nWINDOW = 4\nCREDIT_STEPS = 8",
    "03_many_seeds": "SEEDS = 2\nLEARNING_RATES = (1e-3, 1e-2)\nSTEPS = 60\nSEQ_LEN = 10",
    "04_your_own_data": "N = 200\nSTEPS = 60",
    "05_extending": "STEPS = 40\nSEEDS = 2",
    "06_bring_your_flax_model": "SEQ_LEN = 20\nHIDDEN = 8\nSEEDS = 2\nSTEPS = 40",
    "07_dynamics": "HIDDEN = 16\nGAINS = (0.5, 2.0)\nSTEPS = 120\nSEQ_LEN = 12\nTRAIN_STEPS = 20\nSEEDS = 2\nXOR_T = 40\nXOR_DELAY = 5\nXOR_N = 8",
}


def test_every_notebook_has_quick_parameters():
    names = sorted(f[:-6] for f in os.listdir(os.path.join(ROOT, "notebooks")) if f.endswith(".ipynb"))
    assert names == sorted(QUICK)


SLOW = {"02_vanishing_gradients", "04_your_own_data", "05_extending", "06_bring_your_flax_model", "07_dynamics"}
"""25-95 s each on 2 cores: out of the default run (its 10-min budget); their parts have unit tests; CI runs `pytest -m slow` too."""


@pytest.mark.parametrize("name", sorted(QUICK))
def test_the_stored_outputs_are_those_of_the_code_as_it_is(name):
    """Notebooks are stored executed (``python docs/execute_notebooks.py``): each records the
    digest of the code it ran, which must be its code now; and the outputs hold its figures."""
    from docs import execute_notebooks

    book = nbformat.read(os.path.join(ROOT, "notebooks", f"{name}.ipynb"), as_version=4)
    stored = book.metadata.get("rnn_jax", {}).get("code_sha256")
    assert stored == execute_notebooks.code_digest(book), (
        f"{name}'s code changed since it was executed: run python docs/execute_notebooks.py {name}")
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    drawn = "Figure" in "".join(c.source for c in book.cells if c.cell_type == "code")
    assert not drawn or any("image/png" in o.get("data", {}) for o in outputs), f"{name} draws figures but stores none"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(QUICK)])
def test_notebook_runs(name, tmp_path):
    path = os.path.join(ROOT, "notebooks", f"{name}.ipynb")
    book = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    book.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(QUICK[name]))
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors

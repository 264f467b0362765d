"""What the documentation site holds: its hand-written pages, and the lists its generated pages
are made from (``docs/gen_pages.py``), shared with ``tests/test_docs.py``."""

from __future__ import annotations

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONCEPTS = [
    ("Cells", "concepts/cells.md"),
    ("unroll and its modes", "concepts/unroll.md"),
    ("Models and tasks", "concepts/tasks.md"),
    ("Training and optax chains", "concepts/training.md"),
    ("How far back credit reaches", "concepts/credit.md"),
    ("The runner", "concepts/runner.md"),
    ("Run directories and results", "concepts/results.md"),
    ("Diagnostics and dynamics", "concepts/diagnostics.md"),
]
HOW_TO = [
    ("Your own cell", "how-to/own-cell.md"),
    ("Your own task", "how-to/own-task.md"),
    ("Your own arrays", "how-to/own-arrays.md"),
    ("Flax, Keras and PyTorch models", "how-to/interop.md"),
    ("Sweeps and seeds", "how-to/sweeps.md"),
    ("Resume after a kill", "how-to/resume.md"),
    ("TensorBoard", "how-to/tensorboard.md"),
    ("Several devices and processes", "how-to/several-processes.md"),
    ("The compile cache", "how-to/compile-cache.md"),
    ("When things go wrong", "how-to/when-things-go-wrong.md"),
]
EXPERIMENTS_INTRO = (
    "Each is `python -m experiments.NAME`; `--help` lists every option, `--quick` is a tiny preset (under a "
    "minute), `--seeds N` and `--run-dir PATH` are always there, and rerunning a command on an existing run "
    "directory resumes it. The comparisons (`vanishing_gradients`, `adding_problem`, `sequential_digits`) give the "
    "gated cells chrono initialisation with T_max = T (`--chrono-cells`).")
ATLAS = ("The atlas", "atlas.md")
"""The page of ``experiments.atlas``'s run, its figures in ``docs/atlas/``."""
NOT_EXPERIMENTS = {"claims"}
"""Modules of ``experiments/`` that are not commands (``claims``: claims as data)."""
MAIN_FIGURES = [("figures/grad_norms.png", "‖∂L/∂h_t‖ against t, at initialisation and after training"),
                ("figures/learning_curves.png", "held-out MSE against training step"),
                ("figures/remedies_grad_norms.png", "‖∂L/∂h_t‖ with the remedies (--remedies)"),
                ("figures/eigenvalues.png", "recurrent eigenvalues at initialisation and after training (--remedies)")]


def public_modules() -> list[str]:
    """Every module of ``rnn_jax`` whose dotted path has no part starting with ``_``, sorted."""
    found = []
    for directory, subdirs, files in os.walk(os.path.join(ROOT, "rnn_jax")):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(("_", ".")))
        package = os.path.relpath(directory, ROOT).replace(os.sep, ".")
        for f in files:
            if f.endswith(".py") and not f.startswith("_"):
                found.append(f"{package}.{f[:-3]}")
            elif f == "__init__.py":
                found.append(package)
    return sorted(found)


def experiment_modules() -> list[str]:
    """The experiment commands (``python -m experiments.NAME``), sorted."""
    return sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "experiments"))
                  if f.endswith(".py") and not f.startswith("_") and f[:-3] not in NOT_EXPERIMENTS)


def experiment_figures(name: str) -> list[tuple[str, str]]:
    """``(path under docs/, caption)`` of the stored figures an experiment drew: the main
    figures for ``vanishing_gradients``, and for every experiment the figures of the claims
    it was checked with (``experiments.reproduce.CLAIMS``)."""
    from experiments import reproduce

    figures = list(MAIN_FIGURES) if name == "vanishing_gradients" else []
    if name == "atlas":
        figures += [(f"atlas/{f}", f"the atlas: {f[:-4].replace('_', ' ')}")
                    for f in sorted(os.listdir(os.path.join(ROOT, "docs", "atlas"))) if f.endswith(".png")]
    claims = {c.name: c for c in reproduce.CLAIMS}
    for file in sorted(os.listdir(os.path.join(ROOT, "docs", "reproductions"))):
        stem = os.path.splitext(file)[0]
        owners = [c for c in claims if stem == c or stem.startswith(c + "_")]
        claim = claims[max(owners, key=len)] if owners else None
        if claim is not None and claim.experiment == name:
            figures.append((f"reproductions/{file}", f"claim {claim.name}: {claim.source}"))
    return figures


def notebooks() -> list[str]:
    """The notebooks' names, sorted."""
    return sorted(f[:-6] for f in os.listdir(os.path.join(ROOT, "notebooks")) if f.endswith(".ipynb"))


def notebook_title(name: str) -> str:
    """A notebook's first heading."""
    with open(os.path.join(ROOT, "notebooks", f"{name}.ipynb")) as f:
        book = json.load(f)
    for cell in book["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].replace("`", "").strip()
    return name


README_LINKS = {"](docs/reproductions.md)": "](reproductions/index.md)", "](benchmarks/README.md)": "](benchmarks.md)",
                "](experiments/)": "](experiments/index.md)", "](docs/": "]("}
"""How the README's links change on the site's home page, where ``docs/`` is the root."""


def home(readme: str) -> str:
    """The README as the site's home page."""
    for old, new in README_LINKS.items():
        readme = readme.replace(old, new)
    return readme


def reproduction_pages() -> list[str]:
    """The claims with a page of their own: those in ``docs/reproductions.md``."""
    from experiments import reproduce

    with open(os.path.join(ROOT, "docs", "reproductions.md")) as f:
        return [name for name in reproduce.pages(f.read()) if name != "index"]

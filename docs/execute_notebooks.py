"""Executes the notebooks with their own defaults and stores them with their outputs.

    python docs/execute_notebooks.py                 # every notebook (about 15 min on 2 cores)
    python docs/execute_notebooks.py 07_dynamics     # one

The notebooks are stored executed, so that a code host and the documentation site show their
figures, and the site builds in seconds instead of running them again. Each stored notebook
records in its metadata (``rnn_jax.code_sha256``) a digest of the code it ran;
``tests/test_notebooks.py`` fails when a code cell has changed since, naming this command.
Each runs on a fresh kernel in a new temporary directory, so its run directories are not kept.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import sys
import tempfile
import time

import nbclient
import nbformat

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from docs import site  # noqa: E402

NOTEBOOKS = os.path.join(site.ROOT, "notebooks")


def code_digest(book) -> str:
    """The SHA-256 of a notebook's code cells' sources, in order (outputs and metadata excluded)."""
    digest = hashlib.sha256()
    for cell in book.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + b"\0")
    return digest.hexdigest()


def execute(name: str, *, timeout: int = 1800) -> float:
    """Executes ``notebooks/NAME.ipynb`` top to bottom and writes it back with its outputs;
    returns the seconds it took."""
    path = os.path.join(NOTEBOOKS, f"{name}.ipynb")
    book = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        nbclient.NotebookClient(book, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": work}}).execute()
    seconds = time.perf_counter() - start
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    if errors:
        raise RuntimeError(f"{name}: {errors[0].ename}: {errors[0].evalue}")
    for cell in book.cells:  # no per-cell timestamps: a re-execution changes only what it printed
        cell.metadata.pop("execution", None)
    book.metadata["rnn_jax"] = {"code_sha256": code_digest(book), "seconds": round(seconds, 1),
                                "executed": datetime.date.today().isoformat()}
    nbformat.write(book, path)
    return seconds


def main(chosen: list[str]) -> None:
    unknown = sorted(set(chosen) - set(site.notebooks()))
    if unknown:
        raise SystemExit(f"unknown notebooks {unknown}: expected names among {site.notebooks()}")
    for name in chosen or site.notebooks():
        print(f"{name}: executing", flush=True)
        print(f"{name}: {execute(name):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

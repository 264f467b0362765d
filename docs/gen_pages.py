"""Writes the site's generated pages at every build (mkdocs-gen-files runs it):

* ``reference/``: one API page per public module of ``rnn_jax``, rendered from its docstrings
  by mkdocstrings;
* ``experiments/``: one page per experiment, with its command, its ``--help`` and the figures
  its claims were checked with;
* ``reproductions/``: the report ``docs/reproductions.md`` split into a page per claim, by
  :func:`experiments.reproduce.pages` (the code that writes the report);
* ``notebooks/``: the stored, executed notebooks (``docs/execute_notebooks.py``);
* ``benchmarks.md``: ``benchmarks/README.md``;
* ``index.md``: the README, as the home page;
* ``SUMMARY.md``: the navigation (mkdocs-literate-nav).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import sys

import mkdocs_gen_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("COLUMNS", "100")
os.environ.setdefault("NO_COLOR", "1")

from docs import site  # noqa: E402  (the lists of pages, shared with the tests)

nav = ["* [Home](index.md)", "* [Getting started](getting-started.md)"]

# Home: the README, its links pointed at the site's pages.
with open(os.path.join(ROOT, "README.md")) as source, mkdocs_gen_files.open("index.md", "w") as page:
    page.write(site.home(source.read()))


def _section(title: str, pages: list[tuple[str, str]]) -> None:
    nav.append(f"* {title}")
    nav.extend(f"    * [{name}]({path})" for name, path in pages)


_section("Concepts", site.CONCEPTS)
_section("How-to guides", site.HOW_TO)

# Notebooks, stored executed: copied in as they are.
notebooks = []
for name in site.notebooks():
    with open(os.path.join(ROOT, "notebooks", f"{name}.ipynb")) as source, \
            mkdocs_gen_files.open(f"notebooks/{name}.ipynb", "w") as page:
        page.write(source.read())
    notebooks.append((site.notebook_title(name), f"notebooks/{name}.ipynb"))
_section("Notebooks", notebooks)

# Experiments: command, --help, figures.
from experiments import _common  # noqa: E402

experiments = [("Overview", "experiments/index.md")]
with mkdocs_gen_files.open("experiments/index.md", "w") as index:
    index.write("# Experiments\n\n" + site.EXPERIMENTS_INTRO + "\n\n| command | what |\n|---|---|\n")
    for name in site.experiment_modules():
        module = importlib.import_module(f"experiments.{name}")
        summary = (module.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        index.write(f"| [`python -m experiments.{name}`]({name}.md) | {summary} |\n")
        help_text, program = io.StringIO(), sys.argv[0]
        sys.argv[0] = f"python -m experiments.{name}"  # what the usage line shows
        try:
            with contextlib.redirect_stdout(help_text), contextlib.suppress(SystemExit):
                _common.parse(module.Config, ["--help"])
        finally:
            sys.argv[0] = program
        lines = [f"# {name}", "", f"```bash\npython -m experiments.{name}\n```", "",
                 (module.__doc__ or "").strip(), "", "## Options", "", "```text", help_text.getvalue().rstrip(), "```"]
        figures = site.experiment_figures(name)
        lines += ["", "## Figures", ""]
        if figures:
            lines += [f"![{caption}](../{path})\n\n*{caption}*\n" for path, caption in figures]
        elif name == "figures":
            lines.append("It draws none of its own: it redraws the figures of existing run directories.")
        elif name == "reproduce":
            lines.append("Its report, with a figure per claim, is the [Reproductions](../reproductions/index.md) section.")
        else:
            lines.append(f"None stored here: a run writes its figures to `runs/{name}/figures/` (or `--run-dir`).")
        with mkdocs_gen_files.open(f"experiments/{name}.md", "w") as page:
            page.write("\n".join(lines) + "\n")
        experiments.append((name, f"experiments/{name}.md"))
_section("Experiments", experiments)

# Reproductions: the report, split by the code that writes it.
from experiments import reproduce  # noqa: E402

with open(os.path.join(ROOT, "docs", "reproductions.md")) as f:
    report = reproduce.pages(f.read())
reproductions = []
for name, text in report.items():
    path = "reproductions/index.md" if name == "index" else f"reproductions/{name}.md"
    with mkdocs_gen_files.open(path, "w") as page:
        page.write(text)
    reproductions.append(("Overview" if name == "index" else name, path))
_section("Reproductions", reproductions)
nav.append(f"* [{site.ATLAS[0]}]({site.ATLAS[1]})")

# Benchmarks and architecture.
with open(os.path.join(ROOT, "benchmarks", "README.md")) as source, mkdocs_gen_files.open("benchmarks.md", "w") as page:
    page.write(source.read())
nav.append("* [Benchmarks](benchmarks.md)")
nav.append("* [Architecture](architecture.md)")

# API reference: a page per public module.
reference = [("Overview", "reference/index.md")]
with mkdocs_gen_files.open("reference/index.md", "w") as index:
    index.write("# API reference\n\nGenerated from the docstrings, a page per public module.\n\n")
    for module in site.public_modules():
        path = "reference/" + module.replace(".", "/") + ".md"
        with mkdocs_gen_files.open(path, "w") as page:
            page.write(f"# `{module}`\n\n::: {module}\n")
        index.write(f"* [`{module}`]({module.replace('.', '/')}.md)\n")
        reference.append((module, path))
_section("API reference", reference)

with mkdocs_gen_files.open("SUMMARY.md", "w") as summary:
    summary.write("\n".join(nav) + "\n")

# The navigation file is read by literate-nav, not a page of its own.
from mkdocs.structure.files import InclusionLevel  # noqa: E402

mkdocs_gen_files.FilesEditor.current().files.get_file_from_path("SUMMARY.md").inclusion = InclusionLevel.EXCLUDED

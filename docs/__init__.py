"""The documentation site's build scripts (docs/gen_pages.py, docs/execute_notebooks.py) and page lists."""

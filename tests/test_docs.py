"""The documentation site: every public name documented and in the reference, the pages'
commands and code true, the site built strictly and read in a browser."""

import functools
import http.server
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zlib

import pytest

from docs import site

ROOT = site.ROOT
PAGES = sorted(os.path.join(d, f) for d, _, files in os.walk(os.path.join(ROOT, "docs")) for f in files
               if f.endswith(".md") and f != "reproductions.md")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRE_BROWSER = os.environ.get("RNN_JAX_REQUIRE_BROWSER") == "1"
"""CI sets it (``.ci/run`` installs Chromium), so that the browser test fails there instead of skipping."""


def public_names() -> dict[str, object]:
    """``module.name`` -> object for every public module of ``rnn_jax``, and every class and
    function a public module defines under a name without a leading underscore."""
    names = {}
    for module_name in site.public_modules():
        module = importlib.import_module(module_name)
        names[module_name] = module
        for name, obj in vars(module).items():
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj)) \
                    and obj.__module__ == module_name:
                names[f"{module_name}.{name}"] = obj
    return names


def test_every_public_name_has_a_docstring():
    """Modules, classes, functions, and the public methods classes define (a method that
    overrides a documented one inherits its docstring, as ``inspect.getdoc`` and the
    reference read it)."""
    missing = []
    for qualified, obj in public_names().items():
        if not inspect.getdoc(obj):
            missing.append(qualified)
        if inspect.isclass(obj):
            for name, member in vars(obj).items():
                if not name.startswith("_") and inspect.isfunction(member) and not inspect.getdoc(getattr(obj, name)):
                    missing.append(f"{qualified}.{name}")
    assert not missing, f"public names without a docstring: {missing}"


def blocks(text: str, language: str) -> list[str]:
    """The bodies of a Markdown text's fenced ``language`` blocks."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_module_and_path_a_page_names_exists(page):
    text = open(page).read()
    for module in set(re.findall(r"python -m ([\w.]+)", text)) - {"experiments.NAME", "benchmarks.NAME"}:
        assert importlib.util.find_spec(module) is not None, module
    for path in set(re.findall(r"`((?:notebooks|docs|experiments|benchmarks|rnn_jax|tests)/[\w./-]+)`", text)):
        assert os.path.exists(os.path.join(ROOT, path)), path


def test_every_experiment_command_in_a_code_block_parses():
    """Every ``python -m experiments.X ...`` line of the README's and the pages' bash blocks
    (continuation lines joined, the text after ``#`` dropped) parses into X's Config."""
    import shlex

    from experiments import _common

    texts = [open(os.path.join(ROOT, "README.md")).read()] + [open(p).read() for p in PAGES]
    commands = [line for text in texts for block in blocks(text, "bash")
                for line in block.replace("\\\n", " ").splitlines() if "python -m experiments." in line]
    assert len(commands) >= 5
    for line in commands:
        words = shlex.split(line[line.index("python -m experiments."):], comments=True)
        module = importlib.import_module(words[2])
        if hasattr(module, "Config") and "NAME" not in words[2]:
            _common.parse(module.Config, [w for w in words[3:] if w != "--help"])


def test_the_site_lists_every_hand_written_page():
    listed = {path for _, path in site.CONCEPTS + site.HOW_TO} | {"getting-started.md", "architecture.md", site.ATLAS[1]}
    written = {os.path.relpath(p, os.path.join(ROOT, "docs")) for p in PAGES}
    assert written == listed


@pytest.mark.slow  # 30-90 s on 2 cores; CI runs `pytest -m slow` first
@pytest.mark.usefixtures("standard_dtype_promotion")
def test_the_pages_python_runs(tmp_path, monkeypatch):
    """Every python block of the README and the pages, in one directory, in reading order."""
    import jax

    monkeypatch.chdir(tmp_path)
    texts = [open(os.path.join(ROOT, "README.md")).read()] + [open(p).read() for p in PAGES]
    for text in texts:
        for block in blocks(text, "python"):
            # Keras's own JAX code broadcasts by rank, which the test-wide "raise" refuses
            with jax.numpy_rank_promotion("allow" if "import keras" in block else "raise"):
                exec(compile(block, "docs", "exec"), {"__name__": "docs"})


@pytest.mark.slow  # 35-70 s on 2 cores; CI runs `pytest -m slow` on every submission
def test_the_several_devices_command_runs(tmp_path):
    text = open(os.path.join(ROOT, "docs", "how-to", "several-processes.md")).read()
    (command,) = [b for b in blocks(text, "bash") if "XLA_FLAGS" in b]
    env_part, _, rest = command.strip().partition(" ")
    name, value = env_part.split("=", 1)
    args = rest.split()
    assert args[:2] == ["python", "-m"]
    result = subprocess.run([sys.executable, *args[1:], "--no-progress"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, name: value}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert os.path.exists(tmp_path / "runs" / "four_devices" / "figures" / "grad_norms.png")


@functools.cache
def _built() -> str:
    """The site, built strictly (a warning fails the build) into a temporary directory."""
    pytest.importorskip("mkdocs")
    out = tempfile.mkdtemp(prefix="rnn_jax_site_")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", out], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _inventory(path: str) -> set[str]:
    """The object names in a Sphinx inventory (``objects.inv``, which mkdocstrings writes)."""
    with open(path, "rb") as f:
        for _ in range(4):
            f.readline()
        lines = zlib.decompress(f.read()).decode().splitlines()
    return {line.split(" ", 1)[0] for line in lines}


@pytest.mark.slow  # builds the site: 15-45 s on 2 cores
def test_the_site_builds_strictly_with_every_public_name_in_its_reference():
    site_dir = _built()
    documented = _inventory(os.path.join(site_dir, "objects.inv"))
    missing = sorted(set(public_names()) - documented)
    assert not missing, f"public names missing from the API reference: {missing}"
    for name in site.notebooks():  # executed pages: the figures of those that draw are in the HTML
        html = open(os.path.join(site_dir, "notebooks", name, "index.html")).read()
        book = json.load(open(os.path.join(ROOT, "notebooks", f"{name}.ipynb")))
        stored = sum("image/png" in o.get("data", {}) for c in book["cells"] for o in c.get("outputs", []))
        assert html.count('src="data:image/png;base64') == stored, name
    for claim in site.reproduction_pages():
        assert os.path.exists(os.path.join(site_dir, "reproductions", claim, "index.html")), claim


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.slow  # builds the site and starts a browser: 30-90 s on 2 cores
def test_a_reader_sees_every_image_and_finds_lyapunov_spectrum_by_search(tmp_path):
    """The home page, a notebook page and an API page in headless Chromium: every image
    loads; search finds ``lyapunov_spectrum``. Screenshots are saved (``RNN_JAX_SCREENSHOTS``
    or the test's temporary directory)."""
    if BROWSER is None:
        if REQUIRE_BROWSER:
            pytest.fail("RNN_JAX_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    site_dir = _built()
    shots = os.environ.get("RNN_JAX_SCREENSHOTS") or str(tmp_path)
    os.makedirs(shots, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Quiet, directory=site_dir))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    pages = {"home": "", "notebook": "notebooks/02_vanishing_gradients/", "api": "reference/rnn_jax/analysis/dynamics/"}
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=BROWSER, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name, path in pages.items():
                page.goto(base + path, wait_until="load")
                images = page.eval_on_selector_all(
                    "img", "imgs => imgs.map(i => [i.currentSrc.slice(0, 80), i.complete && i.naturalWidth > 0])")
                broken = [src for src, ok in images if not ok]
                assert not broken, f"{name}: images that did not load: {broken}"
                if name != "api":
                    assert images, f"{name}: no images"
                page.screenshot(path=os.path.join(shots, f"{name}.png"), full_page=False)
            page.goto(base, wait_until="load")
            page.click("label.md-search__icon, .md-search__input", timeout=10_000)
            results = page.locator(".md-search-result__item")
            # the index builds in a web worker, slowly on a busy machine; a query typed before it is
            # ready can go unanswered, so the query is typed again every 15 s, for up to 5 minutes (beside
            # a notebook test on the other worker, 2 minutes were once not enough)
            for attempt in range(20):
                page.fill(".md-search__input", "")
                page.fill(".md-search__input", "lyapunov_spectrum")
                try:
                    results.first.wait_for(timeout=15_000)
                    break
                except Exception:  # playwright's TimeoutError
                    if attempt == 19:
                        raise
            found = " ".join(results.all_inner_texts())
            assert "lyapunov_spectrum" in found, found[:500]
            page.screenshot(path=os.path.join(shots, "search.png"))
            browser.close()
    finally:
        server.shutdown()


def test_the_reproductions_pages_split_the_stored_report_without_losing_a_line():
    """A page per claim of ``docs/reproductions.md``, each linked from the index; every line of
    the report is on exactly one page (no second copy, nothing dropped)."""
    from experiments import reproduce

    text = open(os.path.join(ROOT, "docs", "reproductions.md")).read()
    pages = reproduce.pages(text)
    claims = [c.name for c in reproduce.CLAIMS if f"## {c.name.replace('_', '-')}\n" in text]
    assert claims and set(pages) == {"index", *claims}
    for name in claims:
        assert f"]({name}.md)" in pages["index"]
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    paged = [line for page in pages.values() for line in page.splitlines() if line.strip() and not line.startswith("#")]
    assert len(paged) == len(lines)

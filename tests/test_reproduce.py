"""Slow: every claim of the reproduction suite runs (--quick) and its verdict is computed
from its own runs (CI runs this on every submission; a few minutes on 2 cores)."""

import os

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("standard_dtype_promotion")]


def test_every_claim_runs_quick_and_reports_a_verdict_computed_from_its_runs(tmp_path):
    from experiments import reproduce
    from experiments import claims

    doc = tmp_path / "reproductions.md"
    records = reproduce.main(reproduce.Config(run_dir=str(tmp_path / "runs"), quick=True, doc=str(doc), progress=False))
    assert [r["claim"].name for r in records] == [c.name for c in reproduce.selected(())]
    text = doc.read_text()
    for r in records:
        # every check found the runs it names, and the verdict is exactly the checks' conjunction
        assert all(o.seeds == 2 for o in r["outcomes"]), (r["claim"].name, [(o.text, o.seeds) for o in r["outcomes"]])
        assert r["holds"] == claims.holds(r["outcomes"])
        verdict = "holds" if r["holds"] else "**does not hold**"
        row = next(line for line in text.splitlines() if line.startswith(f"| [{r['claim'].name}]"))
        assert f"| {verdict} |" in row
        shown = " ".join(r["claim"].command(os.path.join("runs/reproduce", r["claim"].name), quick=True))
        assert f"Command: `{shown}`" in text  # as a reader would type it, at the default run directory
        assert os.path.exists(tmp_path / "reproductions" / f"{r['claim'].name}.png")
    # a rerun reuses the finished runs and reports the wall time they took
    again = reproduce.main(reproduce.Config(run_dir=str(tmp_path / "runs"), quick=True, doc=str(doc), progress=False,
                                            only=("clipping",)))
    assert [r["seconds"] for r in again] == [r["seconds"] for r in records]
    # the --paper claims run too, and the report then lists both
    paper = reproduce.main(reproduce.Config(run_dir=str(tmp_path / "runs"), quick=True, doc=str(doc), progress=False,
                                            paper=True))
    assert {r["claim"].name for r in paper} == {c.name for c in reproduce.CLAIMS}
    assert all(o.seeds == 2 for r in paper for o in r["outcomes"])
    assert "paper budget (--paper)" in doc.read_text()
    # the site's pages are that report split: a page per claim, the index linking each
    pages = reproduce.pages(doc.read_text())
    assert set(pages) == {"index"} | {c.name for c in reproduce.CLAIMS}
    for name in set(pages) - {"index"}:
        assert f"]({name}.md)" in pages["index"] and pages[name].startswith(f"# {name}\n")
        assert f"![{name}]({name}.png)" in pages[name]

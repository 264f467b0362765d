"""Slow: every claim of the reproduction suite runs (--quick) and its verdict is computed
from its own runs, one test per claim so that CI's workers share them; the report and the
site's pages are checked on two of them (CI runs this on every submission)."""

import json
import os

import pytest

from experiments import claims, reproduce

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("standard_dtype_promotion")]


@pytest.mark.parametrize("claim", reproduce.CLAIMS, ids=[c.name for c in reproduce.CLAIMS])
def test_a_claim_runs_quick_and_its_verdict_is_its_checks(claim, tmp_path):
    record = reproduce.reproduce(claim, str(tmp_path), quick=True, progress=False)
    # every check found the runs it names (both quick seeds), and the verdict is exactly the checks' conjunction
    assert record["outcomes"] and all(o.seeds == 2 for o in record["outcomes"]), [(o.text, o.seeds) for o in record["outcomes"]]
    assert record["holds"] == claims.holds(record["outcomes"], record["control"])
    if claim.control is not None:  # the control read every check off the same runs
        assert [c.seeds for c in record["control"]] == [o.seeds for o in record["outcomes"]], claim.name
    stored = json.loads((tmp_path / claim.name / "reproduce.json").read_text())
    assert stored["command"] == " ".join(claim.command(str(tmp_path / claim.name), quick=True))
    assert all(os.path.exists(p) for p in record["pictures"])
    assert bool(record["pictures"]) == bool(claim.points or claim.figure)


def test_the_report_lists_each_claim_run_and_the_site_splits_it(tmp_path):
    """A default-suite claim and a --paper one: the report's rows, commands and figures, a rerun
    that reuses the finished runs, and the site's pages."""
    doc = tmp_path / "reproductions.md"
    chosen = ("clipping", "sgd_cr_paper")
    config = reproduce.Config(run_dir=str(tmp_path / "runs"), quick=True, doc=str(doc), progress=False, only=chosen)
    records = reproduce.main(config)
    assert [r["claim"].name for r in records] == [c.name for c in reproduce.CLAIMS if c.name in chosen]
    text = doc.read_text()
    rows = []
    for r in records:
        verdict = reproduce._verdict(r)
        row = next(line for line in text.splitlines() if line.startswith(f"| [{r['claim'].name}]"))
        assert f"| {verdict} |" in row
        assert all(f"{o.text}: {o.summary()} (fails)" in row for o in r["outcomes"] if not o.holds)  # every miss shown
        rows.append(float(row.rsplit("|", 2)[1].split()[0]))
        shown = " ".join(r["claim"].command(os.path.join("runs/reproduce", r["claim"].name), quick=True))
        assert f"Command: `{shown}` ({r['seconds']:.0f} s, run on {r['date']})." in text  # as a reader types it
        assert os.path.exists(tmp_path / "reproductions" / f"{r['claim'].name}.png")
    assert "paper budget (--paper)" in text
    total = float(text.split("Total wall time: ", 1)[1].split()[0])
    assert total == pytest.approx(sum(rows), abs=0.05 * len(rows) + 1e-9)  # the rows' minutes, each rounded
    # a rerun of one claim reuses its finished runs, reports the wall time they took, and lists the other too
    again = reproduce.main(reproduce.Config(run_dir=str(tmp_path / "runs"), quick=True, doc=str(doc), progress=False,
                                            only=("clipping",)))
    assert [(r["claim"].name, r["seconds"]) for r in again] == [(r["claim"].name, r["seconds"]) for r in records]
    # the site's pages are that report split: a page per claim, the index linking each
    pages = reproduce.pages(doc.read_text())
    assert set(pages) == {"index", *chosen}
    for name in chosen:
        assert f"]({name}.md)" in pages["index"] and pages[name].startswith(f"# {name}\n")
        assert f"![{name}]({name}.png)" in pages[name]


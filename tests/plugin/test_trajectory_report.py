"""Trajectory divergences in the reports: the JSON item carries it (per the schema), the HTML cell shows
both sides' step, and the summary table counts it as a parity mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugin.test_html_browser import browser, table  # noqa: F401 (the fixture)
from tests.plugin.test_summary_reports import schema
from tests.plugin.test_trajectory_parity import AGENT

MODULE = AGENT + '''

@wtb.parity(keys=["prepared"], trajectory="strict")
@wtb.cases(CASES)
def test_strict(wtb_run):
    pass
'''


def test_json_report_carries_the_trajectory_divergence(pytester: pytest.Pytester) -> None:
    import jsonschema

    pytester.makepyfile(test_agent=MODULE)
    result = pytester.runpytest("-p", "no:randomly", "-k", "base or same or other_args", "--wtb-report=run.json")
    result.assert_outcomes(passed=2, failed=1)
    report = json.loads((pytester.path / "run.json").read_text())
    jsonschema.validate(report, schema())
    cells = {e["variant"]: e for e in report["executions"]}
    assert cells["other_args"]["outcome"] == "parity" and cells["same"]["outcome"] == "passed"
    parted = cells["other_args"]["items"][0]["trajectory"]
    assert parted["mode"] == "strict" and parted["index"] == 2
    assert parted["baseline"]["step"] == parted["other"]["step"] == 2
    assert parted["baseline"]["tool_calls"] == ['search({"q": "weather"})']
    assert parted["other"]["tool_calls"] == ['search({"q": "sun"})']
    assert parted["thread_id"] == cells["other_args"]["thread_id"]
    assert parted["baseline_thread_id"] == cells["base"]["thread_id"]
    assert cells["same"]["items"][0]["trajectory"] is None
    assert {v["name"]: v["parity"] for v in report["variants"]} == {"base": 0, "same": 0, "other_args": 1}


def test_html_cell_shows_where_the_trajectories_part(pytester: pytest.Pytester, browser: object,  # noqa: F811
                                                     tmp_path: Path) -> None:
    from tests.plugin.browser import Browser

    assert isinstance(browser, Browser)
    pytester.makepyfile(test_agent=MODULE)
    pytester.runpytest("-p", "no:randomly", "-k", "base or other_args", "--wtb-report=run.html").assert_outcomes(
        passed=1, failed=1)
    browser.open((pytester.path / "run.html").as_uri())
    assert browser.wait_for("document.body.dataset.ready === '1'")
    browser.click('button.c[title="other_args / rain: parity"]')
    assert browser.wait_for("document.getElementById('detail').textContent.includes('Trajectory divergence')"), \
        browser.evaluate("document.getElementById('detail').innerText")
    detail = browser.evaluate("document.getElementById('detail').innerText")
    assert 'trajectory="strict": different nodes or tool calls at this step' in detail
    assert "trajectory parts at step 2" in detail
    rows = table(browser, "#detail table.diff")
    assert rows[0] == ["base (baseline)", "other_args"]
    assert rows[1][0].startswith("step 2 agent\nsearch({\"q\": \"weather\"})"), rows
    assert rows[1][1].startswith("step 2 agent\nsearch({\"q\": \"sun\"})"), rows
    assert "thread_id wtb-" in rows[1][1] and "checkpoint_id " in rows[1][1]
    browser.screenshot(tmp_path / "trajectory.png")

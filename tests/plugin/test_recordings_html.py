"""The HTML report counts each variant's model and tool calls under --wtb-record: replayed, recorded, live,
missing (a variant with a miss is marked)."""

from __future__ import annotations

from pathlib import Path

from pytest_wtb.model import FAILED, SUCCEEDED, ExecutionResult
from pytest_wtb.report import html as html_report
from pytest_wtb.report import json_report
from pytest_wtb.report.records import RunRecords
from tests.plugin.test_html_browser import browser, table  # noqa: F401  # the one Chromium fixture


def _result(key: str, variant: str, status: str, calls: list[tuple[str, str]]) -> ExecutionResult:
    extra = {"calls": [{"kind": kind, "name": "m", "node": "agent", "key": f"{key}{i}", "status": s}
                       for i, (kind, s) in enumerate(calls)]}
    return ExecutionResult(key, f"wtb-r1-{variant}-c-{key}", variant, "c", status, state={}, extra=extra)


def test_the_html_report_counts_replayed_recorded_live_and_missing_calls(browser: object, tmp_path: Path) -> None:  # noqa: F811
    records = RunRecords()
    records.note_run_id("r1")
    records.note_execution(_result("a", "base", SUCCEEDED, [("chat", "replayed"), ("tool", "replayed")]), "m", True,
                           None)
    records.note_execution(_result("b", "new_prompt", FAILED, [("chat", "replayed"), ("chat", "missing")]), "m",
                           False, "a")
    records.note_execution(_result("c", "new_prompt", SUCCEEDED, [("chat", "recorded"), ("tool", "live")]), "m",
                           False, "a")
    report = json_report.build(records, None)
    assert report["recordings"] == [
        {"variant": "base", "replayed": 2, "recorded": 0, "live": 0, "missing": 0},
        {"variant": "new_prompt", "replayed": 1, "recorded": 1, "live": 1, "missing": 1},
    ]
    page = tmp_path / "r.html"
    html_report.write(page, report)
    browser.open(page.as_uri())  # type: ignore[attr-defined]
    assert browser.wait_for("document.body.dataset.ready === '1'")  # type: ignore[attr-defined]
    rows = table(browser, "#recordings")
    assert rows == [["model and tool calls", "replayed", "recorded", "live", "missing"],
                    ["base", "2", "0", "0", "0"], ["new_prompt", "1", "1", "1", "1"]]
    assert browser.wait_for(  # type: ignore[attr-defined]
        "document.querySelector('#recordings tr:nth-child(3) td:last-child').className === 'bad'")
    assert browser.console_errors() == []  # type: ignore[attr-defined]


def test_a_run_without_recordings_has_no_calls_table(browser: object, tmp_path: Path) -> None:  # noqa: F811
    records = RunRecords()
    records.note_run_id("r1")
    records.note_execution(_result("a", "base", SUCCEEDED, []), "m", True, None)
    report = json_report.build(records, None)
    assert report["recordings"] == []
    page = tmp_path / "r.html"
    html_report.write(page, report)
    browser.open(page.as_uri())  # type: ignore[attr-defined]
    assert browser.wait_for("document.body.dataset.ready === '1'")  # type: ignore[attr-defined]
    assert browser.wait_for("document.querySelector('#recordings') === null")  # type: ignore[attr-defined]

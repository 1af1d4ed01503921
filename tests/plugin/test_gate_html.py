"""The HTML report shows every gate: verdict, both mean scores with intervals, the paired difference."""

from __future__ import annotations

from pathlib import Path

from pytest_wtb.report import html as html_report
from pytest_wtb.report import json_report
from pytest_wtb.report.records import RunRecords
from tests.plugin.test_html_browser import browser, table  # noqa: F401  # the one Chromium fixture

GATE_ROW = {"variant": "worse", "baseline": "good", "test": "McNemar exact", "pairs": 100, "mean": 0.27,
            "base_mean": 0.9, "mean_ci": [0.193, 0.364], "base_mean_ci": [0.826, 0.945], "diff": -0.63,
            "low": -0.71, "high": -0.55, "p_value": 1.43e-15, "margin": 0.05, "alpha": 0.05, "decision": "worse",
            "more_pairs": None, "excluded": 0}


def test_the_html_report_lists_gates_with_means_intervals_and_verdicts(browser: object, tmp_path: Path) -> None:  # noqa: F811
    records = RunRecords()
    records.note_run_id("r1")
    records.note_gate("test_gate.py::test_gate[worse]", GATE_ROW)
    records.note_gate("test_gate.py::test_gate[twin]", {**GATE_ROW, "variant": "twin", "mean": 0.87, "diff": -0.03,
                                                       "low": -0.1, "high": 0.05, "p_value": 0.75,
                                                       "decision": "undecided", "more_pairs": 1407})
    page = tmp_path / "r.html"
    html_report.write(page, json_report.build(records, None))
    browser.open(page.as_uri())  # type: ignore[attr-defined]
    assert browser.wait_for("document.body.dataset.ready === '1'")  # type: ignore[attr-defined]
    rows = table(browser, "#gates")
    assert rows[0] == ["gate", "verdict", "mean [95% CI]", "baseline mean", "difference [CI]", "p", "test", "pairs"]
    assert rows[1] == ["test_gate.py::test_gate[worse]", "worse", "worse 0.270 [0.193, 0.364]",
                       "good 0.900 [0.826, 0.945]", "-0.630 [-0.710, -0.550]", "1.43e-15", "McNemar exact", "100"]
    assert rows[2][:2] == ["test_gate.py::test_gate[twin]", "undecided"]
    assert browser.console_errors() == []  # type: ignore[attr-defined]

"""The HTML report in a real browser (headless Chromium): click a failing cell, read the diff, look at it.

Skips locally without Chromium; fails under WTB_REQUIRE_SERVICES=1 (CI installs Debian's chromium)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_wtb.model import ErrorInfo, ExecutionResult, NodeRun
from pytest_wtb.report import html as html_report
from pytest_wtb.report import json_report
from pytest_wtb.report.records import RunRecords
from tests.conftest import service_missing
from tests.plugin.test_summary_reports import MODULE

WIDTH, HEIGHT = 1400, 900


@pytest.fixture
def browser() -> Iterator[object]:
    from tests.plugin.browser import Browser, find_chromium

    binary = find_chromium()
    if binary is None:
        service_missing("Chromium", "install it with `apt-get install chromium` to test the HTML report")
    assert binary is not None
    b = Browser(binary, WIDTH, HEIGHT)
    try:
        yield b
    finally:
        b.close()


def table(browser: object, selector: str) -> list[list[str]]:
    """The cells of a table as the user reads them."""
    return list(browser.evaluate(  # type: ignore[attr-defined]
        f"[...document.querySelectorAll('{selector} tr')].map(r => [...r.cells].map(c => c.innerText.trim()))"
    ))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_clicking_a_failing_cell_shows_the_parity_diff(pytester: pytest.Pytester, browser: object,
                                                       tmp_path: Path) -> None:
    from tests.plugin.browser import Browser

    assert isinstance(browser, Browser)
    pytester.makepyfile(test_flow=MODULE)
    pytester.runpytest("--wtb-report=run.html").assert_outcomes(passed=6, failed=6)
    page = pytester.path / "run.html"
    browser.open(page.as_uri())
    assert browser.wait_for("document.body.dataset.ready === '1'")
    outcomes = browser.evaluate("[...document.querySelectorAll('#rows button.c')].map(b => b.title).sort()")
    assert outcomes == ["base / refund: passed", "base / reset: passed", "down / refund: error",
                        "down / reset: error", "loud / refund: parity", "loud / reset: parity"]

    browser.click('button.c[title="loud / reset: parity"]')
    assert browser.wait_for("document.querySelector('#detail h2') !== null")
    detail = browser.evaluate("document.getElementById('detail').innerText")
    assert "loud \u00d7 reset" in detail and "PARITY DIFF AGAINST THE BASELINE" in detail.upper()
    rows = table(browser, "#detail table.diff")
    assert rows[:2] == [["key path", "base (baseline)", "loud"], ["answer", "'answer to reset'", "'ANSWER TO reset'"]]
    timeline = table(browser, "#detail table.tl")
    assert timeline[0] == ["step", "node", "keys written", "duration", "checkpoint_id"]
    assert [r[1:3] for r in timeline[1:]][-2:] == [["retrieve", "docs, log"], ["answer", "answer, log, score"]]
    assert timeline[-1][3].endswith("s") and timeline[-1][4]
    assert "wtb-" in detail and "python -m pytest_wtb show wtb-" in detail
    shot = browser.screenshot(tmp_path / "report.png")
    assert png_size(shot) == (WIDTH, HEIGHT) and len(shot) > 20_000

    browser.click('button.c[title="down / refund: error"]')
    assert browser.wait_for("document.getElementById('detail').innerText.includes('retriever offline')")
    assert "no final state" in browser.evaluate("document.getElementById('detail').innerText")
    assert all(url.startswith("file://") for url in browser.requests()), browser.requests()
    assert browser.console_errors() == []


def big_report(path: Path, variants: int = 10, cases: int = 1000) -> int:
    records = RunRecords(with_state=True)
    records.note_run_id("big")
    for c in range(cases):
        base_key = f"v0-{c}"
        for v in range(variants):
            key = f"v{v}-{c}"
            failed = v == 3 and c % 97 == 0
            result = ExecutionResult(
                key=key, thread_id=f"wtb-big-v{v}-case-{c:04d}", variant=f"variant_{v}", case_id=f"case-{c:04d}",
                status="failed" if failed else "succeeded", duration_s=0.01 * (v + 1), backend="threads",
                state=None if failed else {"answer": f"answer {c % (v + 2)}", "sources": [f"kb-{c}"]},
                error=ErrorInfo("ValueError", "boom", "answer") if failed else None,
                nodes=(NodeRun(0, "retrieve", 0.004), NodeRun(1, "answer", 0.006)),
            )
            records.note_execution(result, "tests.test_big", v == 0, None if v == 0 else base_key)
            records.note_item(f"test_big.py::test_x[variant_{v}-case-{c:04d}]", key, None)
            records.note_report(f"test_big.py::test_x[variant_{v}-case-{c:04d}]", "call",
                                "failed" if failed else "passed", False, "boom" if failed else None)
    html_report.write(path, json_report.build(records, "sqlite:///big.db"))
    return variants * cases


def test_ten_thousand_executions_stay_a_small_lazy_dom(browser: object, tmp_path: Path) -> None:
    from tests.plugin.browser import Browser

    assert isinstance(browser, Browser)
    page = tmp_path / "big.html"
    assert big_report(page) == 10_000
    browser.open(page.as_uri())
    assert browser.wait_for("document.body.dataset.ready === '1'", timeout_s=30)
    assert browser.evaluate("document.getElementById('shown').textContent") == "1000 of 1000 cases"
    elements = browser.evaluate("document.getElementsByTagName('*').length")
    assert elements < 3000, elements  # only the rows in view exist, not 10,000 cells
    browser.evaluate("(() => { const m = document.getElementById('matrix'); m.scrollTop = m.scrollHeight; })()")
    assert browser.wait_for("[...document.querySelectorAll('.lbl')].some(e => e.textContent === 'case-0999')")
    assert browser.evaluate("document.getElementsByTagName('*').length") < 3000
    browser.click('button.c[title^="variant_7 / case-0999:"]')
    assert browser.wait_for("document.getElementById('detail').innerText.includes('wtb-big-v7-case-0999')")
    assert table(browser, "#detail table.diff")[1] == ["answer", "'answer 1'", "'answer 0'"]
    browser.click("#problems")  # only rows with a failure: variant_3 failed on every 97th case
    assert browser.wait_for("document.getElementById('shown').textContent === '11 of 1000 cases'")
    browser.click('button.c[title="variant_3 / case-0970: error"]')
    assert browser.wait_for("document.getElementById('detail').innerText.includes('ValueError')")

"""What the end of a run tells a new user: prefix-sharing counts that add up, failures without pytest's
"--full-trace" hint, Hypothesis items in the summary table, and an HTML report whose policy runs only
its own script."""

from __future__ import annotations

import re

import pytest

from tests.plugin.graphs_src import THREE_VARIANTS
from tests.plugin.test_html_browser import browser
from tests.plugin.test_hypothesis_cases import NUMBERS, XS
from tests.plugin.test_prefix_sharing import MODULE as SHARING
from tests.plugin.test_summary_reports import MODULE as REPORTED

__all__ = ["browser"]  # the Chromium fixture, used by name below


def table_column(lines: list[str], title: str) -> dict[str, int]:
    """The summary table's ``title`` column by variant name (the table sits under the pytest-wtb title)."""
    start = next(i for i, line in enumerate(lines) if line.startswith("variant ") and title in line)
    column = lines[start].index(title) + len(title)  # cells are right-aligned under their title
    out = {}
    for line in lines[start + 1:]:
        if not line or line.startswith(("prefix sharing", "slowest", "store:", "=", "-")):
            break
        cell = line[:column].split()[-1]
        if cell.isdigit():  # the baseline's parity cell is "-"
            out[line.split()[0]] = int(cell)
    return out


def test_prefix_sharing_column_and_line_count_the_same_nodes_and_say_which_is_net(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_share=SHARING)
    result = pytester.runpytest("--wtb-share-prefix-min-ms=0")
    result.assert_outcomes(passed=3, failed=4)
    taken = table_column(result.stdout.lines, "from prefix")
    assert taken == {"base": 4, "last": 4, "upper": 4}, taken  # retrieve + rerank, per case, per variant
    # each case's prefix ran its 2 nodes once: 12 taken - 4 run = 8 saved, and the line says so
    result.stdout.fnmatch_lines([
        "prefix sharing: 8 node executions saved (net): forked executions took 12 nodes from 2 shared prefix "
        "executions (the 'from prefix' column) that ran 4 nodes",
    ])
    line = next(ln for ln in result.stdout.lines if ln.startswith("prefix sharing:"))
    took, ran = map(int, re.search(r"took (\d+) nodes .* ran (\d+) nodes", line).groups())  # type: ignore[union-attr]
    assert took == sum(taken.values()) and line.startswith(f"prefix sharing: {took - ran} node executions saved")
    assert "saved nodes" not in result.stdout.str()


def test_pytest_wtb_failures_carry_no_full_trace_hint_but_user_assertions_keep_their_traceback(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_flow=THREE_VARIANTS + '''

@wtb.parity(keys=["answer"])
@wtb.cases({"x": {"q": "x"}})
def test_parity(wtb_run):
    assert wtb_run.state["score"] == 0.75, "the score moved"
''')
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)  # base: its own assertion; loud: parity; down: its execution raised
    result.stdout.fnmatch_lines([
        "E   AssertionError: parity: variant 'loud' differs from baseline 'base' on case 'x' at 1 key path",
        "E   pytest_wtb.ExecutionFailed: execution of variant 'down' on case 'x' failed: ValueError in node "
        "'retrieve': retriever offline",
    ])
    assert "--full-trace" not in result.stdout.str()
    # the user's own failing assertion still shows its line of code, as pytest always does
    result.stdout.fnmatch_lines(['>       assert wtb_run.state["score"] == 0.75, "the score moved"',
                                 "E       AssertionError: the score moved"])


def test_a_parity_failure_of_a_property_item_carries_no_full_trace_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_props=NUMBERS + f'''
off = base.with_nodes({{"double": double_from_ten_wrong}}, name="off")


@wtb.parity(keys=["y"])
@wtb.cases(strategy={XS}, max_examples=60)
def test_doubles(wtb_run):
    pass
''')
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E   AssertionError: parity: variant 'off' differs from baseline 'base' on case *"])
    assert "--full-trace" not in result.stdout.str()


def test_hypothesis_items_are_counted_in_the_summary_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_props=NUMBERS + f'''
same = base.with_nodes({{"double": lambda state: {{"y": state["x"] + state["x"]}}}}, name="same")
off = base.with_nodes({{"double": double_from_ten_wrong}}, name="off")


@wtb.parity(keys=["y"])
@wtb.cases(strategy={XS}, max_examples=60)
def test_doubles(wtb_run):
    pass


@given(x=st.integers(0, 5))
@settings(max_examples=3)
def test_bench(wtb_bench, x):
    wtb_bench.assert_parity({{"x": x}}, keys=["y"], variants=["same"])
''')
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*- pytest-wtb: * executions of 3 variants -*"])
    lines = result.stdout.lines
    # base: its property item; same: its property item and the wtb_bench test that compared it
    assert table_column(lines, "passed") == {"base": 1, "off": 0, "same": 2}
    assert table_column(lines, "failed") == {"base": 0, "off": 1, "same": 0}
    assert table_column(lines, "parity") == {"off": 1, "same": 0}  # the baseline's parity shows "-"
    executions = table_column(lines, "executions")
    assert set(executions) == {"base", "off", "same"} and all(n >= 1 for n in executions.values()), executions
    result.stdout.fnmatch_lines(["store: sqlite:///*wtb.db  run: *"])


def test_the_report_runs_only_its_own_script_and_still_renders(pytester: pytest.Pytester, browser: object) -> None:
    from tests.plugin.browser import Browser

    assert isinstance(browser, Browser)
    pytester.makepyfile(test_flow=REPORTED)
    pytester.runpytest("--wtb-report=run.html").assert_outcomes(passed=6, failed=6)
    page = (pytester.path / "run.html").read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src")).split()[1:]
    assert script_src and all(s.startswith("'sha256-") for s in script_src), policy
    assert "unsafe-inline" not in " ".join(script_src) and "unsafe-eval" not in policy

    # markup that got past the data escaping could not run: only the page's own script has the hash
    injected = pytester.path / "injected.html"
    injected.write_text(page.replace("<noscript>", '<script>document.body.dataset.pwned = "1";</script><noscript>'),
                        encoding="utf-8")
    browser.open(injected.as_uri())
    assert browser.wait_for("document.body.dataset.ready === '1'"), "the report's own script did not run"
    assert browser.evaluate("document.body.dataset.pwned === undefined")
    assert any("Content Security Policy" in e for e in browser.console_errors()), browser.console_errors()
    rows = browser.evaluate("[...document.querySelectorAll('#rows button.c')].length")
    assert rows == 6  # the matrix rendered: 3 variants x 2 cases

    browser.open((pytester.path / "run.html").as_uri())
    assert browser.wait_for("document.body.dataset.ready === '1'")
    assert browser.console_errors() == []

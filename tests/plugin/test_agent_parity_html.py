"""The HTML report shows a comparator's reason under the key path of the parity diff it failed."""

from __future__ import annotations

import pytest

from tests.plugin.test_agent_parity import AGENT
from tests.plugin.test_html_browser import browser, table

__all__ = ["browser"]  # the fixture, used by name below


def test_the_parity_diff_shows_the_comparators_reason(pytester: pytest.Pytester, browser: object) -> None:
    from tests.plugin.browser import Browser

    assert isinstance(browser, Browser)
    pytester.makepyfile(test_agent=AGENT + '''

def same_queries(baseline, value):
    qs = [c["args"]["q"] for m in baseline if m.type == "ai" for c in m.tool_calls]
    vs = [c["args"]["q"] for m in value if m.type == "ai" for c in m.tool_calls]
    return qs == vs or f"search queries {qs} became {vs}"


@wtb.parity(compare={"messages": same_queries})
@wtb.cases(CASES)
def test_queries(wtb_run):
    pass
''')
    pytester.runpytest("--wtb-report=run.html").assert_outcomes(passed=2, failed=1)
    browser.open((pytester.path / "run.html").as_uri())
    assert browser.wait_for("document.body.dataset.ready === '1'")
    browser.click('button.c[title="other_query / weather: parity"]')
    assert browser.wait_for("document.querySelector('#detail table.diff') !== null")
    rows = table(browser, "#detail table.diff")
    assert rows[1][0] == "messages\nsearch queries ['weather in Paris'] became ['weather in Paris 2026']"
    assert rows[1][1].startswith("[human: 'weather in Paris', ai: '' tool_calls=[search(q='weather in Paris')]")
    assert browser.console_errors() == []

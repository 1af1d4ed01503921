"""The plugin has no side effects in a project that does not use it: no store, no heavy imports."""

from __future__ import annotations

import pytest


def test_unused_plugin_imports_nothing_heavy_and_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        '''
import sys

def pytest_sessionfinish(session):
    heavy = ("ray", "psycopg", "langgraph", "sqlalchemy", "langchain_core")
    print("HEAVY:", sorted(m for m in heavy if m in sys.modules))
'''
    )
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                           "-p", "no:langsmith_plugin", "-p", "no:anyio")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HEAVY: [[][]]"])
    assert not (pytester.path / ".wtb").exists()

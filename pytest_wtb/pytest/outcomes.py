"""Item outcomes as pytest reports them: noted for the summary and reports, and pytest-wtb's own failure
texts shown without pytest's "--full-trace" hint.

pytest-wtb hides its frames (``__tracebackhide__``) because its failure texts already name the variant,
the case, the node and the thread_id; with every frame hidden pytest adds "All traceback entries are
hidden. Pass `--full-trace` ...", which on such a failure only sends the reader into plugin internals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import pytest

from pytest_wtb.errors import ExecutionFailed
from pytest_wtb.pytest.keys import SESSION_KEY

COMPLETE_ATTR: Final = "wtb_complete"
HINT_MARKER: Final = "--full-trace"


def mark_complete(exc: BaseException) -> BaseException:
    """Say that ``exc``'s text is a whole pytest-wtb failure message (no traceback needed)."""
    setattr(exc, COMPLETE_ATTR, True)
    return exc


def complete_text(exc: BaseException) -> bool:
    return bool(getattr(exc, COMPLETE_ATTR, False)) or isinstance(exc, ExecutionFailed)


def _tracebacks(longrepr: Any) -> Iterator[Any]:
    for entry in getattr(longrepr, "chain", None) or ():
        yield entry[0]
    tb = getattr(longrepr, "reprtraceback", None)
    if tb is not None:
        yield tb


def drop_full_trace_hint(report: pytest.TestReport) -> None:
    """Remove pytest's hint from a failure whose frames pytest-wtb hid on purpose."""
    for tb in _tracebacks(report.longrepr):
        extraline = getattr(tb, "extraline", None)
        if isinstance(extraline, str) and HINT_MARKER in extraline:
            tb.extraline = None


def note_report(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    excinfo = call.excinfo
    if report.failed and excinfo is not None and complete_text(excinfo.value):
        drop_full_trace_hint(report)
    wtb = item.config.stash.get(SESSION_KEY, None)
    if wtb is not None:
        message = report.longreprtext if report.failed else None
        wtb.records.note_report(item.nodeid, report.when, report.outcome, hasattr(report, "wasxfail"), message)

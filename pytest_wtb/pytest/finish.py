"""The end of a run: end it in the store, write reports, gather xdist workers' notes, print the summary."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_wtb.pytest.keys import SESSION_KEY
from pytest_wtb.pytest.session import run_status
from pytest_wtb.report import summary
from pytest_wtb.report.outputs import write_outputs

STORE_SUMMARY_KEY = pytest.StashKey[list[str]]()


def store_summary(config: pytest.Config) -> list[str]:
    """Store notes and unsaved results, this process's and (under xdist) its workers', once each."""
    wtb = config.stash.get(SESSION_KEY, None)
    own = wtb.history.summary_lines() if wtb is not None and wtb.history is not None else []
    return list(dict.fromkeys(own + config.stash.get(STORE_SUMMARY_KEY, [])))


def session_finish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    wtb = config.stash.get(SESSION_KEY, None)
    if wtb is not None:
        wtb.finish(run_status(exitstatus))  # "interrupted" for Ctrl-C
    lines = store_summary(config)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["wtb_store_summary"] = lines  # shown by the xdist controller
        if wtb is not None:
            workeroutput["wtb_records"] = wtb.records.export()
    elif wtb is not None:
        wtb.output_lines = write_outputs(wtb.settings, wtb.records, wtb.settings.store)
    if any("could not be saved" in line for line in lines) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # results missing from the store fail the run


def worker_down(node: Any) -> None:
    """An xdist worker ended: keep its store notes and records for the controller's summary."""
    output = getattr(node, "workeroutput", {})
    lines = output.get("wtb_store_summary", [])
    node.config.stash[STORE_SUMMARY_KEY] = node.config.stash.get(STORE_SUMMARY_KEY, []) + list(lines)
    wtb = node.config.stash.get(SESSION_KEY, None)
    if wtb is not None:
        wtb.records.merge(output.get("wtb_records", {}))


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    wtb = config.stash.get(SESSION_KEY, None)
    if wtb is not None:
        summary.write(terminalreporter, wtb.records, wtb.store_display, wtb.output_lines)
    lines = store_summary(config)
    if lines:
        terminalreporter.write_sep("-", "pytest-wtb store")
        for line in lines:
            terminalreporter.write_line(line)

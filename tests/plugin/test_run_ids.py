"""A run id names where results go. Several pytest commands may write into one run (CI shards, xdist
workers, a rerun under a leftover WTB_RUN_ID), but a stored result is reused only when it came from
the same code and inputs, and a command that joins an earlier command's run says so."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.plugin.graphs_src import GRAPH

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]
with contextlib.suppress(ImportError):  # loaded before pytester's in-process runs, which drop and re-import them
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401

# the variant's node lives in a helper module, as an application's code does: a fix there must count
MODULE = GRAPH + '''
from helpers import answer_fn


@wtb.variant(baseline=True)
def base():
    return build()


fixed = base.with_nodes({"answer": answer_fn}, name="fixed")


@wtb.cases({"reset": {"q": "reset"}})
def test_answer(wtb_run):
    assert wtb_run.state["answer"] == "answer to reset", wtb_run.thread_id
'''

BROKEN = '''
def answer_fn(state):
    return {"answer": "wrong", "log": ["answer"]}
'''

# counts its calls in the file WTB_CALLS names, so a test can tell a reused result from a rerun
FIXED = '''
import os


def answer_fn(state):
    with open(os.environ["WTB_CALLS"], "a") as calls:
        calls.write("answer_fn\\n")
    return {"answer": f"answer to {state['q']}", "log": ["answer"]}
'''


def calls(pytester: pytest.Pytester) -> int:
    path = pytester.path / "calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def stored(url: str, run_id: str) -> dict[str, str]:
    from pytest_wtb.store import open_store, parse_store_url
    from pytest_wtb.store.runs import run_executions

    s = open_store(parse_store_url(url, Path(".")), create=False)
    try:
        return {r["variant"]: r["status"] for r in run_executions(s.results, run_id)}
    finally:
        s.close()


@pytest.fixture(autouse=True)
def _calls_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WTB_CALLS", str(pytester.path / "calls.txt"))


def test_a_rerun_under_a_reused_run_id_runs_changed_code_again(pytester: pytest.Pytester, store: StoreUnderTest) -> None:
    pytester.makepyfile(test_fix=MODULE, helpers=BROKEN)
    first = pytester.runpytest(store.option, "--wtb-run-id=dev")
    first.assert_outcomes(passed=1, failed=1)
    pytester.makepyfile(helpers=FIXED)  # the fix is in the module the variant imports, not in the test file
    second = pytester.runpytest(store.option, "--wtb-run-id=dev")
    second.assert_outcomes(passed=2)
    assert calls(pytester) == 1
    second.stdout.fnmatch_lines([
        "pytest-wtb: run id 'dev' (--wtb-run-id / WTB_RUN_ID) already names a run started * (ended failed at *); "
        "this command writes into it: its stored results are reused only where they finished from the same code "
        "and inputs",
        "pytest-wtb: run dev: ran * execution(s) again whose stored result came from other code or inputs, "
        "or never finished",
    ])
    assert stored(store.url, "dev") == {"base": "succeeded", "fixed": "succeeded"}


def test_the_same_code_under_a_leftover_run_id_reuses_results_and_says_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_fix=MODULE, helpers=FIXED)
    monkeypatch.setenv("WTB_RUN_ID", "ci-9")
    pytester.runpytest().assert_outcomes(passed=2)
    again = pytester.runpytest()
    again.assert_outcomes(passed=2)
    assert calls(pytester) == 1  # nothing ran again
    again.stdout.fnmatch_lines([
        "pytest-wtb: run id 'ci-9' (--wtb-run-id / WTB_RUN_ID) already names a run started * (ended passed at *)*",
        "pytest-wtb: run ci-9: * execution(s) were not run again: another pytest command (process * on *) "
        "recorded them in this run from the same code and inputs; use a new --wtb-run-id (or unset WTB_RUN_ID) "
        "to run everything afresh",
    ])


def test_xdist_workers_joining_a_stale_run_run_each_changed_execution_once(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_fix=MODULE, helpers=BROKEN)
    pytester.runpytest("--wtb-run-id=shard").assert_outcomes(passed=1, failed=1)
    pytester.makepyfile(helpers=FIXED)
    again = pytester.runpytest("-n", "2", "--wtb-run-id=shard")
    again.assert_outcomes(passed=2)
    assert calls(pytester) == 1  # two workers raced for the stale execution: one ran it
    again.stdout.fnmatch_lines(["pytest-wtb: run id 'shard' (--wtb-run-id / WTB_RUN_ID) already names a run*"])
    assert again.stdout.str().count("already names a run") == 1  # said once, not once per worker
    assert stored(f"sqlite:///{pytester.path / '.wtb' / 'wtb.db'}", "shard") == {"base": "succeeded", "fixed": "succeeded"}

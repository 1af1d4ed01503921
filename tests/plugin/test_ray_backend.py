"""--wtb-backend=ray as a user runs it. Subprocess runs cost seconds each, so there are few of them:
most join the session's Ray head (tests/conftest.py: ray_address) that runs from another directory,
so they also prove that nodes from test files and conftests reach workers that cannot import them.
One run proves the local-start path."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import service_missing
from tests.plugin.graphs_src import GRAPH

CONFTEST = '''
def conftest_answer(state):
    return {"answer": f"answer to {state['q']}", "score": 0.5, "log": ["conftest"]}
'''

VARIANTS = GRAPH + '''
import os

from conftest import conftest_answer


@wtb.variant(baseline=True)
def bm25():
    return build()


@wtb.variant(name="dense")
def dense_retriever():
    return build().compile()


def hybrid_retrieve(state):
    return {"docs": [f"hybrid-{state['q']}"], "log": ["hybrid"]}


hybrid = bm25.with_nodes({"retrieve": hybrid_retrieve}, name="hybrid")
from_conftest = bm25.with_nodes({"answer": conftest_answer}, name="from_conftest")

CASES = {"reset": {"q": "reset"}, "refund": {"q": "refund"}}


@wtb.parity(keys=["answer"])
@wtb.cases(CASES)
def test_same_answer(wtb_run):
    assert wtb_run.backend == "ray"
    assert wtb_run.result.worker.split(":")[1] != str(os.getpid())


@wtb.cases(CASES)
def test_docs(wtb_run):
    assert wtb_run.state["docs"], wtb_run.thread_id
'''

FAULTS = GRAPH + '''
import os
import threading
import time


@wtb.variant(baseline=True)
def fine():
    return build()


doomed = fine.with_nodes({"answer": lambda state: os._exit(1)}, name="doomed")


def slow(state):
    time.sleep(120)
    return {}


stuck = fine.with_nodes({"answer": slow}, name="stuck")


@wtb.cases({"one": {"q": "x"}})
def test_outcome(wtb_run):
    assert wtb_run.state["answer"]
'''

UNSENDABLE = GRAPH + '''
import threading


class Holder:
    """Has a stable identity (its repr), but holds a lock: Ray cannot pickle it."""

    def __init__(self):
        self.lock = threading.Lock()

    def __repr__(self):
        return "Holder()"


@wtb.variant
def only():
    return build()


@wtb.cases({"locked": {"q": "x", "docs": [Holder()]}})
def test_unsendable(wtb_run):
    pass
'''


def _need_ray() -> None:
    from pytest_wtb.execute.backends.ray_cluster import ray_installed

    if not ray_installed():
        service_missing("Ray", "pip install 'pytest-wtb[ray]'")


def thread_ids(pytester: pytest.Pytester) -> dict[str, str]:
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        rows = conn.execute("select variant || '-' || case_id, thread_id from wtb_executions").fetchall()
    finally:
        conn.close()
    return dict(rows)


def test_joined_cluster_runs_test_file_and_conftest_code_and_show_reads_its_checkpoints(
    pytester: pytest.Pytester, ray_address: str
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_rag=VARIANTS)
    result = pytester.runpytest_subprocess("--wtb-backend=ray", "--wtb-ray-address=auto", "-v")
    result.assert_outcomes(passed=16)
    result.stdout.fnmatch_lines(["*test_same_answer?from_conftest-refund? PASSED*"])
    shown = subprocess.run(
        [sys.executable, "-m", "pytest_wtb", "show", thread_ids(pytester)["hybrid-reset"]],
        cwd=pytester.path, capture_output=True, text=True, timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "retrieve" in shown.stdout and "answer" in shown.stdout


def test_lost_timed_out_and_unsendable_executions_fail_only_their_items(
    pytester: pytest.Pytester, ray_address: str
) -> None:
    pytester.makepyfile(test_faults=FAULTS, test_unsendable=UNSENDABLE)
    result = pytester.runpytest_subprocess(
        "--wtb-backend=ray", "--wtb-retries=1", "--wtb-timeout=3", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=3)
    ids = thread_ids(pytester)
    result.stdout.fnmatch_lines([
        "*execution of variant 'doomed' on case 'one' was lost: the worker died (2 attempts)*",
        f"*thread_id={ids['doomed-one']}*",
    ])
    result.stdout.fnmatch_lines([
        "*execution of variant 'stuck' on case 'one' timed out*--wtb-timeout=3*still running node 'answer'*",
    ])
    result.stdout.fnmatch_lines(["*the input key 'docs[[]0[]]' holds a Holder that Ray cannot serialize*lock*"])


def test_without_an_address_a_local_ray_starts_and_stops_with_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_ray()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_rag=VARIANTS)
    result = pytester.runpytest_subprocess("--wtb-backend=ray", "--wtb-workers=2", "-k", "reset")
    result.assert_outcomes(passed=8)


def test_an_address_with_no_cluster_is_a_quick_usage_error(pytester: pytest.Pytester) -> None:
    _need_ray()
    pytester.makepyfile(test_rag=VARIANTS)
    pytester.makeconftest(CONFTEST)
    t0 = time.monotonic()
    result = pytester.runpytest_subprocess("--wtb-backend=ray", "--wtb-ray-address=127.0.0.1:1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--wtb-ray-address=127.0.0.1:1: no Ray cluster answers there*"])
    assert time.monotonic() - t0 < 30


def test_without_ray_installed_the_usage_error_says_how_to_install_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when it is not installed
    pytester.makepyfile(test_rag=VARIANTS)
    result = pytester.runpytest("--wtb-backend=ray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pip install 'pytest-wtb[[]ray[]]'*"])

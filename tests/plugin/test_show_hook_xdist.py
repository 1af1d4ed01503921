"""Following a thread_id with `show`, third-party backends through the hook, and pytest-xdist."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import pytest

from tests.plugin.graphs_src import GRAPH, THREE_VARIANTS

MODULE = THREE_VARIANTS + '''

CASES = {"reset": {"q": "reset"}, "refund": {"q": "refund"}}


@wtb.parity(keys=["answer"])
@wtb.cases(CASES)
def test_parity(wtb_run):
    pass


@wtb.cases(CASES)
def test_docs(wtb_run):
    assert wtb_run.state["docs"]
'''


def show(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_wtb", "show", *args],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_show_prints_the_checkpoint_history_of_a_failing_thread(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_show=MODULE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6, failed=6)
    thread_id = re.search(r"thread_id=(wtb-\S+-loud-reset-\S+)", result.stdout.str()).group(1)  # type: ignore[union-attr]

    shown = show(pytester, thread_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"thread_id {thread_id}"
    assert "variant loud  case reset  status succeeded" in lines[1]
    text = shown.stdout
    assert re.search(r"-1\s+\(input\)\s+\S+\s+q='reset'", text)
    assert re.search(r"1\s+retrieve\s+\S+\s+docs=\['doc-reset'\]", text)
    assert re.search(r"2\s+answer\s+\S+\s+answer='ANSWER TO reset'", text)

    failed_id = re.search(r"thread_id=(wtb-\S+-down-refund-\S+)", result.stdout.str()).group(1)  # type: ignore[union-attr]
    shown = show(pytester, failed_id, "--store", f"sqlite:///{pytester.path}/.wtb/wtb.db")
    assert shown.returncode == 0, shown.stderr
    assert "error: ValueError in node 'retrieve': retriever offline" in shown.stdout
    assert re.search(r"retrieve \(failed\)\s+-\s+error=", shown.stdout)


def test_show_with_unknown_thread_or_missing_store_says_what_to_do(pytester: pytest.Pytester) -> None:
    shown = show(pytester, "wtb-nope")
    assert shown.returncode == 2
    assert "no .wtb/wtb.db in" in shown.stderr and "pass --store URL" in shown.stderr
    pytester.makepyfile(test_show=MODULE)
    pytester.runpytest()
    shown = show(pytester, "wtb-nope")
    assert shown.returncode == 1
    assert "no execution or checkpoints for thread_id wtb-nope in sqlite:///" in shown.stderr


def test_a_conftest_can_add_a_backend_through_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        '''
from langgraph.checkpoint.memory import InMemorySaver

from pytest_wtb import Backend
from pytest_wtb.execute.worker import execute

RAN = []


class InlineBackend(Backend):
    name = "inline"

    @property
    def capacity(self):
        return 1

    def start(self, context):
        self.saver = InMemorySaver()

    def submit(self, spec, done):
        RAN.append(spec.thread_id)
        done(execute(spec, self.saver, backend=self.name))

    def close(self):
        pass


def pytest_wtb_make_backend(config, name):
    return InlineBackend() if name == "inline" else None
'''
    )
    pytester.makepyfile(
        test_inline=GRAPH
        + '''

@wtb.variant
def only():
    return build()


@wtb.cases({"x": {"q": "x"}})
def test_x(wtb_run):
    assert wtb_run.backend == "inline"


def test_zz_ran_inline():
    import conftest
    assert len(conftest.RAN) == 1
'''
    )
    result = pytester.runpytest("--wtb-backend=inline")
    result.assert_outcomes(passed=2)


def _normalised_failures(text: str) -> list[str]:
    # the failures end at the next "=== ... ===" section (the wtb summary, the short test summary)
    body = re.split(r"\n[-=]{3,} [^\n]* [-=]{3,}\n", text.split("= FAILURES =")[1] + "\n")[0]
    body = re.sub(r"wtb-[0-9a-f]{12}-", "wtb-RUN-", body)
    body = re.sub(r"checkpoint_id=\S+", "checkpoint_id=ID", body)
    blocks = re.split(r"\n_{3,} (\S+) _{3,}\n", body)
    # xdist adds a "[gw0] linux -- Python ..." header line to each failure
    pairs = zip(blocks[1::2], blocks[2::2], strict=True)
    cleaned = [
        (name, re.sub(r"^\[gw\d+\] .*$", "", block, flags=re.M).strip()) for name, block in pairs
    ]
    return [f"{name}\n{block}" for name, block in sorted(cleaned)]


def test_xdist_gives_the_same_outcomes_and_texts_and_runs_each_execution_once(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_x=MODULE)
    # trivial nodes: share regardless of cost, so both runs fork the same way
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--wtb-share-prefix-min-ms=0")
    plain.assert_outcomes(passed=6, failed=6)
    dist = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--wtb-share-prefix-min-ms=0")
    dist.assert_outcomes(passed=6, failed=6)
    assert _normalised_failures(plain.stdout.str()) == _normalised_failures(dist.stdout.str())

    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    runs = conn.execute("select run_id from wtb_runs order by started_at").fetchall()
    assert len(runs) == 2, "the plain run and the xdist run (both workers write into one run)"
    rows = conn.execute(
        "select run_id, variant, case_id, thread_id, status, owner from wtb_executions where run_id = ?", runs[1]
    ).fetchall()
    conn.close()
    prefixes = [r for r in rows if r[1] == "(shared-prefix)"]
    rows = [r for r in rows if r[1] != "(shared-prefix)"]
    assert len(rows) == 6, "3 variants x 2 cases, each executed once across both workers"
    # 'down' replaces the entry node and runs from scratch; base and loud share retrieve per case
    assert len(prefixes) == 2, "one shared prefix per case, also run once"
    assert len({r[3] for r in rows}) == 6
    assert all(r[4] in ("succeeded", "failed") for r in rows)

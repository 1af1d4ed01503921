"""The store as a history, as a user drives it: `runs`, `diff`, `prune`, --wtb-against, --wtb-keep-days
and runs killed mid-way, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update

from pytest_wtb.cli.main import main
from pytest_wtb.store import Store, open_store, parse_store_url, schema
from pytest_wtb.store.lifecycle import ABANDON_AFTER_S
from pytest_wtb.store.runs import list_runs
from tests.plugin.graphs_src import GRAPH

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

# loaded before pytester's in-process runs, which otherwise drop and re-import them between runs
pytest.importorskip("psycopg")
pytest.importorskip("psycopg_pool")
pytest_plugins = ["tests.store_support"]

HISTORY = GRAPH + '''
import os


def fast_answer(state):
    # what a change to the code under test looks like between two runs
    suffix = os.environ.get("WTB_FAST_SUFFIX", "") if state["q"] == "refund" else ""
    if os.environ.get("WTB_FAST_BREAKS") and state["q"] == "reset":
        raise RuntimeError("fast answer broke")
    return {"answer": f"answer to {state['q']}{suffix}", "score": 0.5, "log": ["answer"]}


@wtb.variant(baseline=True)
def base():
    return build()


fast = base.with_nodes({"answer": fast_answer}, name="fast")


@wtb.parity(keys=["answer"])
@wtb.cases({"reset": {"q": "reset"}, "refund": {"q": "refund"}})
def test_answer(wtb_run):
    assert wtb_run.state["answer"]
'''


def opened(store: StoreUnderTest) -> Store:
    return open_store(parse_store_url(store.url, Path(".")), create=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def run_ids(store: StoreUnderTest) -> list[str]:
    """Newest first."""
    s = opened(store)
    try:
        return [r.run_id for r in list_runs(s.results)]
    finally:
        s.close()


def age(store: StoreUnderTest, run_id: str, seconds: float) -> None:
    s = opened(store)
    try:
        runs = schema.runs.c
        with s.results.write() as conn:
            conn.execute(
                update(schema.runs)
                .where(runs.run_id == run_id)
                .values(started_at=runs.started_at - seconds, heartbeat_at=runs.heartbeat_at - seconds)
            )
    finally:
        s.close()


def test_runs_lists_recent_runs_with_pass_and_fail_counts_per_variant(
    pytester: pytest.Pytester, store: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_hist=HISTORY)
    pytester.runpytest(store.option).assert_outcomes(passed=4)
    monkeypatch.setenv("WTB_FAST_BREAKS", "1")
    pytester.runpytest(store.option).assert_outcomes(passed=3, failed=1)

    result = pytester.run(sys.executable, "-m", "pytest_wtb", "runs", "--store", store.url, timeout=120)
    assert result.ret == 0, result.stderr.str()
    newest, oldest = run_ids(store)
    result.stdout.fnmatch_lines(
        [
            "2 most recent runs in * newest first",
            "run * started (UTC) * took  status * backend * git * host",
            f"{newest}  20*  failed    threads *",
            "    test_hist::base: 2 passed, 0 failed",
            "    test_hist::fast: 1 passed, 1 failed",
            f"{oldest}  20*  passed    threads *",
            "    test_hist::base: 2 passed, 0 failed",
            "    test_hist::fast: 2 passed, 0 failed",
        ]
    )
    if store.secret:
        assert store.secret not in result.stdout.str() + result.stderr.str()


def test_diff_names_the_variant_and_case_that_changed_outcome_or_final_state(
    pytester: pytest.Pytester, store: StoreUnderTest, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_hist=HISTORY)
    pytester.runpytest(store.option).assert_outcomes(passed=4)
    monkeypatch.setenv("WTB_FAST_BREAKS", "1")
    monkeypatch.setenv("WTB_FAST_SUFFIX", "!")
    pytester.runpytest(store.option).assert_outcomes(passed=2, failed=2)
    after, before = run_ids(store)

    code, out = cli(capsys, "diff", "last~1", "last", "--store", store.url)
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0].startswith(f"diff {before} (") and f"-> {after} (" in lines[0]
    assert lines[1] == "test_hist::fast [refund]: final state differs at 1 key path"
    assert lines[2] == "    answer: 'answer to refund' -> 'answer to refund!'"
    assert re.fullmatch(rf"    thread_ids: wtb-{before}-fast-refund-\w+ -> wtb-{after}-fast-refund-\w+", lines[3])
    assert lines[4] == "test_hist::fast [reset]: outcome succeeded -> failed: RuntimeError in node 'answer'"
    assert lines[5] == f"    {after}: fast answer broke"
    assert lines[-1] == f"1 changed outcome, 1 changed final state, 2 unchanged, 0 only in {before}, 0 only in {after}"

    code, out = cli(capsys, "diff", before[:6], before, "--store", store.url)
    assert code == 0 and out.splitlines()[-1].startswith("0 changed outcome, 0 changed final state, 4 unchanged")
    code, out = cli(capsys, "diff", "nope", "last", "--store", store.url)
    assert code == 2 and "no run 'nope' in store" in out and f"recent runs: {after}, {before}" in out
    if store.secret:
        assert store.secret not in out


def test_wtb_against_compares_each_execution_with_the_same_variant_and_case_of_a_stored_run(
    pytester: pytest.Pytester, store: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_hist=HISTORY)
    first = pytester.runpytest(store.option, "--wtb-against=last")
    first.assert_outcomes(passed=4)  # nothing stored yet to compare with: not an error
    first.stdout.fnmatch_lines(["pytest-wtb: --wtb-against=last: no earlier finished run in *; nothing was compared"])
    (stored,) = run_ids(store)

    monkeypatch.setenv("WTB_FAST_SUFFIX", "!")
    result = pytester.runpytest(store.option, "--wtb-against=last", "--junitxml=report.xml")
    result.assert_outcomes(passed=3, failed=1)
    current = next(r for r in run_ids(store) if r != stored)
    result.stdout.fnmatch_lines(
        [
            # besides the baseline variant ...
            "E   AssertionError: parity: variant 'fast' differs from baseline 'base' on case 'refund' at 1 key path",
            # ... and against the stored run, with both runs' thread_ids
            f"*parity: variant 'fast' on case 'refund' differs from the same variant and case in stored run {stored}"
            " (--wtb-against=last, started * UTC) at 1 key path",
            "*  answer",
            f"*    run {stored}:* 'answer to refund'",
            f"*    this run {current}: 'answer to refund!'",
            f"*  run {stored}:* thread_id=wtb-{stored}-fast-refund-* checkpoint_id=*",
            f"*  this run {current}: thread_id=wtb-{current}-fast-refund-* checkpoint_id=*",
            f"*  compare the runs: python -m pytest_wtb diff {stored} {current} --store *",
            f"pytest-wtb: compared executions with stored run {stored} (--wtb-against=last, started *",
        ]
    )
    props = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    }
    assert str(props["test_answer[fast-refund]"]["wtb_against_thread_id"]).startswith(f"wtb-{stored}-fast-refund-")
    if store.secret:
        assert store.secret not in result.stdout.str() + (pytester.path / "report.xml").read_text()

    # an explicit id works the same; the baseline variant is compared with its stored self as well
    monkeypatch.delenv("WTB_FAST_SUFFIX")
    again = pytester.runpytest(store.option, f"--wtb-against={stored}", "-k", "base")
    again.assert_outcomes(passed=2)
    unknown = pytester.runpytest(store.option, "--wtb-against=0000dead")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines([f"ERROR: pytest-wtb: no run '0000dead' in store *; recent runs: *{stored}*"])


def test_a_killed_run_is_marked_abandoned_by_a_later_run_after_the_timeout(
    pytester: pytest.Pytester, store: StoreUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        test_hist=HISTORY.replace(
            "def fast_answer(state):\n",
            "def fast_answer(state):\n"
            "    if os.environ.get('WTB_KILL_ME'):\n"
            "        import signal\n"
            "        os.kill(os.getpid(), signal.SIGKILL)  # pytest killed mid-run: nothing is cleaned up\n",
        )
    )
    killed = subprocess.run(
        [sys.executable, "-m", "pytest", store.option, "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env={**os.environ, "WTB_KILL_ME": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stdout
    (dead,) = run_ids(store)
    s = opened(store)
    try:  # all of the run's executions, shared-prefix ones included
        ex = schema.executions.c
        with s.results.read() as conn:
            left_running = [
                t for (t,) in conn.execute(select(ex.thread_id).where(ex.run_id == dead, ex.status == "running"))
            ]
    finally:
        s.close()
    assert left_running  # the kill left executions claimed and never finished
    s = opened(store)
    try:  # as if it ran on another machine: its process cannot be seen from here, only its heartbeat
        with s.results.write() as conn:
            for table in (schema.runs, schema.executions):
                conn.execute(update(table).where(table.c.run_id == dead).values(owner="elsewhere:1:main"))
    finally:
        s.close()

    fresh = pytester.runpytest(store.option)
    fresh.assert_outcomes(passed=4)
    assert "ended without finishing" not in fresh.stdout.str()  # within the timeout it might still be alive

    age(store, dead, ABANDON_AFTER_S + 60)
    later = pytester.runpytest(store.option)
    later.assert_outcomes(passed=4)
    later.stdout.fnmatch_lines(
        [f"pytest-wtb: the previous run {dead} ended without finishing (no heartbeat for 600s) during execution*; "
         "marked abandoned"]
    )
    code, out = cli(capsys, "runs", "--store", store.url)
    assert code == 0 and re.search(rf"^{dead}\s+\S+ \S+\s+\S+\s+abandoned\s", out, re.M), out
    s = opened(store)
    try:
        row = s.results.find_thread(left_running[0]) or {}
    finally:
        s.close()
    assert row["status"] == "abandoned" and "stopped without finishing" in row["error_message"]


def test_prune_deletes_runs_older_than_keep_days_with_their_checkpoints(
    pytester: pytest.Pytester, store: StoreUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_hist=HISTORY)
    for _ in range(2):
        pytester.runpytest(store.option).assert_outcomes(passed=4)
    new, old = run_ids(store)
    age(store, old, 40 * 86400)
    s = opened(store)
    try:  # every execution of the run, shared-prefix executions included
        ex = schema.executions.c
        with s.results.read() as conn:
            old_threads = [t for (t,) in conn.execute(select(ex.thread_id).where(ex.run_id == old))]
    finally:
        s.close()
    n = len(old_threads)
    assert n >= 4

    code, out = cli(capsys, "prune", "--keep-days", "30", "--dry-run", "--store", store.url)
    assert code == 0 and out.splitlines() == [
        f"would delete 1 run started more than 30 days ago, {n} executions and {n} checkpoint threads from "
        f"{parse_store_url(store.url, Path('.')).display}",
        f"  {old}",
    ]
    assert run_ids(store) == [new, old]
    code, out = cli(capsys, "prune", "--keep-days", "30", "--store", store.url)
    assert code == 0 and out.startswith(f"deleted 1 run started more than 30 days ago, {n} executions and {n} checkpoint")
    assert run_ids(store) == [new]
    s = opened(store)
    try:
        saver = s.checkpoints.new()
        assert all(saver.get_tuple({"configurable": {"thread_id": t}}) is None for t in old_threads)
        with s.results.read() as conn:
            assert not conn.execute(select(schema.outbox).where(schema.outbox.c.run_id == old)).first()
    finally:
        s.close()

    # --wtb-keep-days prunes at the end of a run, never the run itself
    age(store, new, 40 * 86400)
    result = pytester.runpytest(store.option, "--wtb-keep-days=30")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["pytest-wtb: pruned 1 run(s) older than 30 days (--wtb-keep-days) with their checkpoints"])
    assert len(run_ids(store)) == 1 and run_ids(store) != [new]
    zero = pytester.runpytest(store.option, "--wtb-keep-days=0")
    zero.assert_outcomes(passed=4)
    assert len(run_ids(store)) == 1  # only the run that just ended is left
    bad = pytester.runpytest(store.option, "--wtb-keep-days=soon")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--wtb-keep-days='soon' is not a number of days*"])

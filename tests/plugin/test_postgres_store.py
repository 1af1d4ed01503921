"""The store as a user meets it, on SQLite and on a real PostgreSQL: results and checkpoints behind
one URL, many processes at once, a store that is unreachable, goes away, or is not a store at all."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

# loaded before pytester's in-process runs, which otherwise drop and re-import them between runs
# (psycopg's C extension would then raise exception classes of the dropped copy)
pytest.importorskip("psycopg")
pytest.importorskip("psycopg_pool")

from pytest_wtb.cli.main import main
from pytest_wtb.store import Store, open_store, parse_store_url, schema
from pytest_wtb.store.runs import list_runs, run_executions
from tests.plugin.graphs_src import GRAPH

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]

WORKFLOW = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


def shout(state):
    return {"answer": f"ANSWER TO {state['q']}", "score": 0.5, "log": ["answer"]}


def broken(state):
    raise ValueError("retriever offline")


loud = base.with_nodes({"answer": shout}, name="loud")
down = base.with_nodes({"retrieve": broken}, name="down")


@wtb.parity(keys=["answer"])
@wtb.cases({"reset": {"q": "reset"}, "refund": {"q": "refund"}})
def test_same_answer(wtb_run):
    assert wtb_run.thread_id
'''


def opened(store: StoreUnderTest) -> Store:
    return open_store(parse_store_url(store.url, Path(".")), create=False)


def all_rows(s: Store) -> list[dict[str, Any]]:
    with s.results.read() as conn:
        return [dict(r._mapping) for t in schema.metadata.sorted_tables for r in conn.execute(select(t))]


def test_results_and_checkpoints_go_to_the_store_behind_one_url(
    pytester: pytest.Pytester, store: StoreUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_flow=WORKFLOW)
    result = pytester.runpytest(store.option, "-v", "--junitxml=report.xml")
    result.assert_outcomes(passed=2, failed=4)
    shown_url = parse_store_url(store.url, Path(".")).display
    result.stdout.fnmatch_lines(
        [
            "*parity: variant 'loud' differs from baseline 'base' on case 'refund' at 1 key path",
            f"*inspect: python -m pytest_wtb show wtb-*-loud-refund-* --store '{shown_url}'",
            "*execution of variant 'down' on case 'reset' failed: ValueError in node 'retrieve': retriever offline",
        ]
    )
    s = opened(store)
    try:
        (run,) = list_runs(s.results)
        assert run.status == "failed" and run.backend == "threads"
        rows = run_executions(s.results, run.run_id)
        assert sorted((r["variant"], r["case_id"], r["status"]) for r in rows) == [
            ("base", "refund", "succeeded"), ("base", "reset", "succeeded"),
            ("down", "refund", "failed"), ("down", "reset", "failed"),
            ("loud", "refund", "succeeded"), ("loud", "reset", "succeeded"),
        ]
        saver = s.checkpoints.new()
        for row in rows:  # every execution left its LangGraph checkpoints in the same store
            tup = saver.get_tuple({"configurable": {"thread_id": row["thread_id"]}})
            assert tup is not None, row["thread_id"]
            if row["status"] == "succeeded":
                assert tup.checkpoint["id"] == row["checkpoint_id"]
        stored = json.dumps(all_rows(s), default=str)
    finally:
        s.close()
    if store.secret:  # never in terminal output, JUnit XML or stored rows
        assert store.secret not in result.stdout.str() + result.stderr.str()
        assert store.secret not in (pytester.path / "report.xml").read_text()
        assert store.secret not in stored
        assert "***@" in stored  # the run's pytest args are stored, masked

    loud_refund = next(r for r in rows if (r["variant"], r["case_id"]) == ("loud", "refund"))
    assert main(["show", loud_refund["thread_id"], "--store", store.url]) == 0
    out = capsys.readouterr().out
    assert "variant loud  case refund  status succeeded" in out and "answer='ANSWER TO refund'" in out
    if store.secret:
        assert store.secret not in out


@pytest.mark.parametrize(
    ("where", "needs_server", "expected"),
    [
        ("127.0.0.1:1/wtb", False, "*cannot connect to PostgreSQL database 'wtb' on 127.0.0.1:1 as user 'ci' (*"),
        ("wtb-no-such-host.invalid:5432/wtb", False, "*cannot connect to PostgreSQL database 'wtb' on wtb-no-such-host*"),
        (None, True, "*cannot connect to PostgreSQL database 'wtb_no_such_db' on *database \"wtb_no_such_db\"*"),
    ],
    ids=["port-closed", "unknown-host", "unknown-database"],
)
def test_an_unreachable_store_is_a_usage_error_naming_host_and_database_before_anything_runs(
    pytester: pytest.Pytester, where: str | None, needs_server: bool, expected: str
) -> None:
    if needs_server:
        from tests.store_support import ADMIN_URL, require_postgres

        require_postgres()
        server = ADMIN_URL.split("@", 1)[1].split("/", 1)[0] if "@" in ADMIN_URL else "127.0.0.1:5432"
        where = f"{server}/wtb_no_such_db"
    pytester.makepyfile(
        test_flow=GRAPH
        + '''
from pathlib import Path


def marked(state):
    Path(__file__).with_name("ran.txt").write_text("ran")
    return {"answer": "x"}


@wtb.variant(baseline=True)
def base():
    return build(answer_fn=marked)


@wtb.cases({"one": {"q": "one"}})
def test_x(wtb_run):
    pass
'''
    )
    user = "ci" if not needs_server else "postgres"
    started = time.monotonic()
    result = pytester.runpytest(f"--wtb-store=postgresql://{user}:hunter2@{where}")
    took = time.monotonic() - started
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-wtb: {expected}"])
    assert "hunter2" not in result.stdout.str() + result.stderr.str()
    assert ":***@" in result.stderr.str()
    assert not (pytester.path / "ran.txt").exists()  # no execution started
    assert took < 10, f"the usage error took {took:.1f}s"


def test_two_sessions_with_xdist_workers_share_one_store(pytester: pytest.Pytester, store: StoreUnderTest) -> None:
    cases = {f"c{i}": {"q": f"q{i}"} for i in range(6)}
    pytester.makepyfile(
        test_many=WORKFLOW.split("@wtb.parity")[0]
        + f"""
CASES = {cases!r}


@wtb.cases(CASES)
def test_answer(wtb_run):
    assert wtb_run.variant == "down" or wtb_run.state["answer"]


@wtb.cases(CASES)
def test_docs(wtb_run):
    assert wtb_run.variant == "down" or wtb_run.state["docs"]
"""
    )
    args = [store.option, "-n", "2", "--wtb-workers=4", "-p", "no:cacheprovider", "-q"]
    sessions = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", *args, f"--junitxml=session{i}.xml"],
            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in sessions]
    for p, out in zip(sessions, outputs, strict=True):
        assert p.returncode == 1, out  # the 'down' variant's items fail, nothing else
        assert "18 failed" not in out and "12 failed, 24 passed" in out, out

    s = opened(store)
    try:
        runs = list_runs(s.results)
        rows = [r for run in runs for r in run_executions(s.results, run.run_id)]
        with s.results.read() as conn:
            claimed = conn.execute(
                select(schema.outbox.c.thread_id).where(schema.outbox.c.event_type == "execution.claimed")
            ).all()
    finally:
        s.close()
    assert len(runs) == 2 and all(r.status == "failed" for r in runs)
    assert len(rows) == 2 * 18  # 3 variants x 6 cases per session: no row lost, none doubled
    assert len({r["thread_id"] for r in rows}) == 36
    claimed_ids = [t for (t,) in claimed]  # (also shared-prefix executions, when variants share one)
    assert len(claimed_ids) == len(set(claimed_ids)) and {r["thread_id"] for r in rows} <= set(claimed_ids)
    for run in runs:
        mine = [r for r in rows if r["run_id"] == run.run_id]
        assert {r["status"] for r in mine if r["variant"] != "down"} == {"succeeded"}
        assert all(r["thread_id"].startswith(f"wtb-{run.run_id}-") for r in mine)
    for i in range(2):  # items of both tests that share an execution report the same thread_id
        by_item: dict[str, set[str]] = {}
        for case in ET.parse(pytester.path / f"session{i}.xml").getroot().iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            by_item.setdefault(case.get("name", "").split("[", 1)[1], set()).add(str(props["wtb_thread_id"]))
        assert len(by_item) == 18 and all(len(ids) == 1 for ids in by_item.values())


def test_a_store_that_goes_away_mid_run_keeps_finished_results_and_names_the_unsaved(
    pytester: pytest.Pytester, pg_store: StoreUnderTest
) -> None:
    from tests.store_support import ADMIN_URL, admin_sql

    pytester.makepyfile(
        test_gone=GRAPH
        + f'''
import psycopg


def answer_then_cut(state):
    if state["q"] == "cut":  # the database stops accepting connections and drops the open ones
        with psycopg.connect({ADMIN_URL!r}, autocommit=True) as admin:
            admin.execute("ALTER DATABASE {pg_store.database} ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{pg_store.database}'")
    return {{"answer": state["q"].upper()}}


@wtb.variant(baseline=True)
def base():
    return build(answer_fn=answer_then_cut)


@wtb.cases({{"early": {{"q": "early"}}, "cut": {{"q": "cut"}}, "late": {{"q": "late"}}}})
def test_x(wtb_run):
    assert wtb_run.state["answer"]
'''
    )
    started = time.monotonic()
    try:
        result = pytester.runpytest(pg_store.option, "--wtb-workers=1", "-p", "no:cacheprovider")
    finally:
        admin_sql(f"ALTER DATABASE {pg_store.database} ALLOW_CONNECTIONS true")
    assert time.monotonic() - started < 90  # nothing hangs
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*execution of variant 'base' on case 'cut' failed*",
            "*note: this result could not be saved to the store: *not currently accepting connections*",
            "*pytest-wtb: 2 result(s) could not be saved to the store postgresql://*:***@*"
            " (their items were still reported):",
            "  wtb-*-base-cut-*: store postgresql://*",
            "  wtb-*-base-late-*: store postgresql://*",
        ]
    )
    s = opened(pg_store)
    try:
        (run,) = list_runs(s.results)
        saved = {r["case_id"]: r["status"] for r in run_executions(s.results, run.run_id)}
    finally:
        s.close()
    # all three were claimed in one transaction up front; 'cut' and 'late' stay running until a later
    # run marks them abandoned (the store was gone when their results came)
    assert saved == {"early": "succeeded", "cut": "running", "late": "running"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,score\nada,1\n", "*is not a SQLite database; pytest-wtb will not overwrite it*"),
        (None, "*is a SQLite database of another application (tables: customers)*"),
    ],
    ids=["text-file", "foreign-database"],
)
def test_a_file_at_the_store_path_that_is_not_a_store_is_refused_and_left_alone(
    pytester: pytest.Pytester, content: bytes | None, message: str
) -> None:
    import sqlite3

    path = pytester.path / "results.db"
    if content is None:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        conn.commit()
        conn.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    pytester.makepyfile(test_flow=WORKFLOW)
    result = pytester.runpytest("--wtb-store=sqlite:///results.db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-wtb: store sqlite:///{message}"])
    assert path.read_bytes() == before

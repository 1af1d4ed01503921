"""The store as a careless user or a crashing machine meets it, through pytest: another application's
database at the store path, passwords with spaces and '@', a read-only directory, a store file deleted
mid-run, and a store outage under ``-n 2``."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import select

# loaded before pytester's in-process runs, which otherwise drop and re-import them between runs
pytest.importorskip("psycopg")
pytest.importorskip("psycopg_pool")

from pytest_wtb.store import open_store, parse_store_url, schema
from tests.plugin.graphs_src import GRAPH
from tests.unit.store.test_foreign_store import read_only

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]

FLOW = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


def broken(state):
    raise ValueError("retriever offline")


down = base.with_nodes({"retrieve": broken}, name="down")


@wtb.cases({"reset": {"q": "reset"}})
def test_x(wtb_run):
    assert wtb_run.state["answer"]
'''


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.suffix != ".py"}


def _langgraph_file(path: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    SqliteSaver(conn).setup()
    conn.close()


def _views_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIEW report AS SELECT 1 AS x")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_langgraph_file, "holds LangGraph checkpoints of another application (checkpoints, writes) but no "
                          "pytest-wtb store; pytest-wtb will not write into it. Point --wtb-store at another file."),
        (_views_file, "is a SQLite database of another application (schema: view report); pytest-wtb will not "
                      "write into it. Point --wtb-store at another file."),
    ],
    ids=["langgraph-checkpoints", "only-views"],
)
def test_another_applications_sqlite_file_is_a_usage_error_and_left_byte_for_byte(
    pytester: pytest.Pytester, make: object, message: str
) -> None:
    folder = pytester.path / "app"
    folder.mkdir()
    path = folder / "app.db"
    make(path)  # type: ignore[operator]
    before = _snapshot(folder)
    pytester.makepyfile(test_flow=FLOW)
    result = pytester.runpytest(f"--wtb-store=sqlite:///{path}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-wtb: store sqlite:///{path}: {path} {message}"])
    assert _snapshot(folder) == before  # same bytes, no -wal or -shm left behind


SECRET = "Pa ss@w0rd!"  # a space and a bare '@'
SSL_SECRET = "client-key-Secret-93"
FRAGMENTS = ("Pa ss", "ss@w0rd", "w0rd!", "Pa%20ss", SSL_SECRET)


def _with_secrets(url: str) -> str:
    parts = urlsplit(url)
    hostport = parts.netloc.rsplit("@", 1)[-1]
    user = (parts.username or "postgres") if "@" in parts.netloc else "postgres"
    return urlunsplit((parts.scheme, f"{user}:{SECRET}@{hostport}", parts.path, f"sslpassword={SSL_SECRET}", ""))


def test_passwords_with_spaces_at_signs_and_sslpassword_never_show_nor_are_stored(
    pytester: pytest.Pytester, pg_store: StoreUnderTest
) -> None:
    url = _with_secrets(pg_store.url)  # the server trusts us: the password is never checked, only carried
    pytester.makepyfile(test_flow=FLOW)
    result = pytester.runpytest(f"--wtb-store={url}", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    shown = result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*execution of variant 'down' on case 'reset' failed*", "*--store 'postgresql://*:***@*"])
    assert not [f for f in FRAGMENTS if f in shown], shown

    store = open_store(parse_store_url(url, Path(".")), create=False)
    try:
        with store.results.read() as conn:
            (args,) = conn.execute(select(schema.runs.c.args)).one()
    finally:
        store.close()
    assert "--wtb-store=postgresql://postgres:***@" in args and "sslpassword=***" in args
    assert not [f for f in FRAGMENTS if f in args], args


def test_an_unreachable_store_with_such_a_password_shows_none_of_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=FLOW)
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test?sslpassword={SSL_SECRET}"
    result = pytester.runpytest(f"--wtb-store={url}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest-wtb: cannot connect to PostgreSQL database 'test' on 127.0.0.1:1 *"])
    shown = result.stdout.str() + result.stderr.str()
    assert not [f for f in FRAGMENTS if f in shown], shown


def test_a_read_only_store_directory_is_called_read_only(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "results"
    folder.mkdir()
    pytester.makepyfile(test_flow=FLOW)
    with read_only(folder):
        result = pytester.runpytest("--wtb-store=sqlite:///results/wtb.db", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: pytest-wtb: store sqlite:///{folder}/wtb.db: cannot write to directory {folder} (read-only)*"]
    )
    assert "corrupt" not in result.stderr.str()


def test_a_store_file_deleted_mid_run_fails_the_run_saying_results_were_lost(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_gone=GRAPH
        + '''
import os


def answer_and_delete(state):
    for suffix in ("", "-wal", "-shm"):  # `rm wtb.db*` while the run is going
        if os.path.exists(os.environ["STORE_FILE"] + suffix):
            os.remove(os.environ["STORE_FILE"] + suffix)
    return {"answer": "x"}


@wtb.variant(baseline=True)
def base():
    return build(answer_fn=answer_and_delete)


@wtb.cases({"one": {"q": "one"}})
def test_x(wtb_run):
    assert wtb_run.state["answer"] == "x"
'''
    )
    store_file = pytester.path / "store" / "wtb.db"
    os.environ["STORE_FILE"] = str(store_file)
    try:
        result = pytester.runpytest("--wtb-store=sqlite:///store/wtb.db", "--wtb-workers=1", "-p", "no:cacheprovider")
    finally:
        del os.environ["STORE_FILE"]
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"pytest-wtb: the SQLite store {store_file} was deleted while this run was going: its results and "
            "checkpoints could not be saved (they went into the deleted file)*",
        ]
    )


def test_an_unreachable_store_under_xdist_is_the_same_usage_error_as_without(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=FLOW)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--wtb-store=postgresql://postgres@127.0.0.1:1/test", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest-wtb: cannot connect to PostgreSQL database 'test' on 127.0.0.1:1 *"])
    shown = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in shown and "Traceback" not in shown


def test_a_store_outage_mid_run_under_xdist_says_what_could_not_be_saved(
    pytester: pytest.Pytester, pg_store: StoreUnderTest
) -> None:
    import psycopg

    from tests.store_support import ADMIN_URL, admin_sql

    open_store(parse_store_url(pg_store.url, Path("."))).close()
    with psycopg.connect(pg_store.url, autocommit=True) as conn:  # tells the test when a worker claims
        conn.execute(
            "CREATE FUNCTION claimed() RETURNS trigger AS $$ BEGIN PERFORM pg_notify('claimed', NEW.owner); "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute("CREATE TRIGGER claimed AFTER INSERT ON wtb_executions FOR EACH ROW EXECUTE FUNCTION claimed()")
    cases = ", ".join(f'"c{i}": {{"q": "c{i}"}}' for i in range(8))
    pytester.makepyfile(
        test_gone=GRAPH
        + f'''
import psycopg


def answer_then_cut(state):
    if state["q"] == "c0":  # once both workers run, the database refuses connections and drops the open ones
        with psycopg.connect({pg_store.url!r}, autocommit=True) as watch:
            watch.execute("LISTEN claimed")
            owners = {{r[0] for r in watch.execute("SELECT DISTINCT owner FROM wtb_executions")}}
            if len(owners) < 2:
                for note in watch.notifies(timeout=60):
                    owners.add(note.payload)
                    if len(owners) >= 2:
                        break
        with psycopg.connect({ADMIN_URL!r}, autocommit=True) as admin:
            admin.execute("ALTER DATABASE {pg_store.database} ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{pg_store.database}'")
    return {{"answer": state["q"].upper()}}


@wtb.variant(baseline=True)
def base():
    return build(answer_fn=answer_then_cut)


CASES = {{{cases}}}


@wtb.cases(CASES)
def test_x(wtb_run):
    assert wtb_run.state["answer"]


@wtb.cases(CASES)
def test_y(wtb_run):
    assert wtb_run.state["answer"]
'''
    )
    started = time.monotonic()
    try:
        result = pytester.runpytest_subprocess(pg_store.option, "-n", "2", "--wtb-workers=1", "-p", "no:cacheprovider")
    finally:
        admin_sql(f"ALTER DATABASE {pg_store.database} ALLOW_CONNECTIONS true")
    assert time.monotonic() - started < 180  # nothing hangs
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*pytest-wtb: * result(s) could not be saved to the store postgresql://*"])
    shown = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in shown and "Traceback" not in shown and "ERROR at setup" not in shown

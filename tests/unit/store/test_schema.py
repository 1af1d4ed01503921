"""Schema on first use, versioned: older stores are migrated, newer, foreign or corrupt ones refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Boolean, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, create_engine, text

from pytest_wtb.errors import StoreError
from pytest_wtb.store import open_store, parse_store_url, schema

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]


def v1_metadata() -> MetaData:
    """The tables pytest-wtb 0.1 (schema 1) wrote, as a store left behind by it."""
    md = MetaData()
    Table("wtb_meta", md, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))
    Table(
        "wtb_runs", md, Column("run_id", String(64), primary_key=True), Column("started_at", Float, nullable=False),
        Column("ended_at", Float), Column("status", String(16), nullable=False),
        Column("backend", String(32), nullable=False), Column("host", String(255)),
        Column("git_commit", String(64)), Column("git_branch", String(255)), Column("args", Text),
    )
    Table(
        "wtb_executions", md, Column("run_id", String(64), primary_key=True),
        Column("exec_key", String(32), primary_key=True), Column("thread_id", String(255), nullable=False),
        Column("scope", String(255), nullable=False), Column("variant", String(255), nullable=False),
        Column("case_id", String(255), nullable=False), Column("input_hash", String(64)),
        Column("status", String(16), nullable=False), Column("attempts", Integer, nullable=False),
        Column("owner", String(255)), Column("backend", String(32)), Column("worker", String(255)),
        Column("started_at", Float), Column("ended_at", Float), Column("duration_s", Float),
        Column("error_type", String(255)), Column("error_message", Text), Column("error_node", String(255)),
        Column("error_traceback", Text), Column("checkpoint_id", String(64)), Column("state_type", String(32)),
        Column("state_blob", LargeBinary), Column("nodes_json", Text),
    )
    Table(
        "wtb_parity", md, Column("id", Integer, primary_key=True), Column("run_id", String(64), nullable=False),
        Column("nodeid", Text, nullable=False), Column("variant", String(255), nullable=False),
        Column("baseline", String(255), nullable=False), Column("case_id", String(255), nullable=False),
        Column("passed", Boolean, nullable=False), Column("thread_id", String(255)),
        Column("baseline_thread_id", String(255)), Column("diff_json", Text),
    )
    Table(
        "wtb_dead_letters", md, Column("id", Integer, primary_key=True), Column("run_id", String(64), nullable=False),
        Column("exec_key", String(32), nullable=False), Column("thread_id", String(255), nullable=False),
        Column("attempts", Integer, nullable=False), Column("errors_json", Text, nullable=False),
        Column("created_at", Float, nullable=False),
    )
    return md


def write_v1_store(url: str, version: str = "1") -> None:
    parsed = parse_store_url(url, Path("."))
    if parsed.sqlite_path is not None:
        parsed.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed.sqlalchemy_url)
    with engine.begin() as conn:
        v1_metadata().create_all(conn)
        conn.execute(text("INSERT INTO wtb_meta (key, value) VALUES ('schema_version', :v)"), {"v": version})
        conn.execute(text(
            "INSERT INTO wtb_runs (run_id, started_at, ended_at, status, backend) "
            "VALUES ('oldrun', 1.0, 2.0, 'passed', 'threads')"
        ))
    engine.dispose()


def stored_version(url: str) -> str:
    engine = create_engine(parse_store_url(url, Path(".")).sqlalchemy_url)
    with engine.connect() as conn:
        value = conn.execute(text("SELECT value FROM wtb_meta WHERE key = 'schema_version'")).scalar()
    engine.dispose()
    return str(value)


def test_a_new_store_is_created_at_the_current_version(store: StoreUnderTest) -> None:
    opened = open_store(parse_store_url(store.url, Path(".")))
    try:
        assert opened.results.ensure_schema() == schema.SCHEMA_VERSION  # reopening finds it current
    finally:
        opened.close()
    assert stored_version(store.url) == str(schema.SCHEMA_VERSION)


def test_a_store_of_schema_1_is_migrated_and_keeps_its_runs(store: StoreUnderTest) -> None:
    write_v1_store(store.url)
    opened = open_store(parse_store_url(store.url, Path(".")))
    try:
        from pytest_wtb.store.runs import list_runs

        runs = list_runs(opened.results)
        assert [(r.run_id, r.status, r.heartbeat_at) for r in runs] == [("oldrun", "passed", None)]
        opened.results.start_run("newrun", "threads", host="h")  # writes the new columns and the outbox
    finally:
        opened.close()
    assert stored_version(store.url) == str(schema.SCHEMA_VERSION)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("99", "was written by a newer pytest-wtb (schema 99, this one knows"),
        ("0", "has schema 0, older than this pytest-wtb can migrate"),
        ("banana", "the schema version row is missing or corrupt ('banana')"),
    ],
)
def test_newer_ancient_or_corrupt_versions_are_refused_with_a_clear_message(
    store: StoreUnderTest, version: str, message: str
) -> None:
    write_v1_store(store.url, version)
    with pytest.raises(StoreError, match=r"^store ") as err:
        open_store(parse_store_url(store.url, Path(".")))
    assert message in str(err.value)
    if store.secret:
        assert store.secret not in str(err.value)
    assert stored_version(store.url) == version  # refused, not touched


def test_reading_commands_do_not_create_a_store(store: StoreUnderTest) -> None:
    with pytest.raises(StoreError, match="run pytest with wtb items first"):
        open_store(parse_store_url(store.url, Path(".")), create=False)


def _file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = _file_bytes(path)
    with pytest.raises(StoreError, match=r"is a SQLite database of another application \(tables: customers\)"):
        open_store(parse_store_url(f"sqlite:///{path}", tmp_path))
    assert _file_bytes(path) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,score\nada,1\n", "exists and is not a SQLite database; pytest-wtb will not overwrite it"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "corrupt"),
    ],
)
def test_a_non_sqlite_or_corrupt_file_is_refused_and_never_overwritten(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "wtb.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as err:
        open_store(parse_store_url(f"sqlite:///{path}", tmp_path))
    assert message in str(err.value)
    assert path.read_bytes() == content


def test_a_langgraph_checkpoint_file_of_another_application_is_refused(tmp_path: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "checkpoints.db"
    conn = sqlite3.connect(path, check_same_thread=False)
    SqliteSaver(conn).setup()
    conn.close()
    before = _file_bytes(path)
    with pytest.raises(StoreError, match="holds LangGraph checkpoints of another application"):
        open_store(parse_store_url(f"sqlite:///{path}", tmp_path))
    assert _file_bytes(path) == before  # more cases: tests/unit/store/test_foreign_store.py

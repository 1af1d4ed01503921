"""Only a pytest-wtb store, or an empty or new file, is opened for writing. Another application's
database (its LangGraph checkpoints, unrelated tables, only views) is refused untouched: same bytes,
same journal mode, no -wal or -shm file left behind. On PostgreSQL, a schema holding another
application's LangGraph checkpoint tables is refused; a schema of pytest-wtb's own works beside it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_wtb.errors import StoreError
from pytest_wtb.store import open_store, parse_store_url, schema

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]


def _langgraph_checkpoints(path: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    SqliteSaver(conn).setup()  # switches the file to WAL, as another app's checkpointer would
    conn.execute("INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id) VALUES ('theirs', '', 'c1')")
    conn.commit()
    conn.close()


def _views_only(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIEW report AS SELECT 1 AS x")
    conn.commit()
    conn.close()


def _unrelated_wal(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("CREATE TRIGGER audit AFTER INSERT ON customers BEGIN SELECT 1; END")
    conn.commit()
    conn.close()


def _snapshot(path: Path) -> tuple[bytes, list[str], str]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    return path.read_bytes(), sorted(os.listdir(path.parent)), mode


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_langgraph_checkpoints, "holds LangGraph checkpoints of another application (checkpoints, writes) "
                                 "but no pytest-wtb store; pytest-wtb will not write into it"),
        (_views_only, "is a SQLite database of another application (schema: view report)"),
        (_unrelated_wal, "is a SQLite database of another application (schema: table customers, trigger audit)"),
    ],
    ids=["langgraph-checkpoints", "only-views", "unrelated-wal"],
)
def test_another_applications_sqlite_file_is_refused_untouched(
    tmp_path: Path, make: Callable[[Path], None], message: str
) -> None:
    path = tmp_path / "app.db"
    make(path)
    before = _snapshot(path)
    with pytest.raises(StoreError) as err:
        open_store(parse_store_url(f"sqlite:///{path}", tmp_path))
    assert message in str(err.value)
    assert str(path) in str(err.value) and "Point --wtb-store at another file" in str(err.value)
    assert _snapshot(path) == before  # same bytes, same journal mode, no -wal/-shm left behind


def test_a_file_another_process_has_open_is_refused_and_its_side_files_kept(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    _langgraph_checkpoints(path)
    owner = sqlite3.connect(path)  # the other application is running: its -wal and -shm exist
    try:
        owner.execute("SELECT count(*) FROM checkpoints").fetchone()
        files = sorted(os.listdir(tmp_path))
        with pytest.raises(StoreError, match="LangGraph checkpoints of another application"):
            open_store(parse_store_url(f"sqlite:///{path}", tmp_path))
        assert sorted(os.listdir(tmp_path)) == files
        assert owner.execute("SELECT thread_id FROM checkpoints").fetchall() == [("theirs",)]
    finally:
        owner.close()


@pytest.mark.parametrize("content", [None, b""], ids=["new-file", "empty-file"])
def test_a_new_or_empty_file_becomes_a_store_and_opens_again(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "wtb.db"
    if content is not None:
        path.write_bytes(content)
    url = parse_store_url(f"sqlite:///{path}", tmp_path)
    open_store(url).close()
    open_store(url).close()  # ours now: LangGraph's tables beside our schema version are fine
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert {schema.meta.name, "checkpoints", "writes"} <= tables


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for this process: chmod, and for root (whom chmod does not stop) chattr +i."""
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    immutable = False
    try:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"running as root and cannot make {path} immutable: {done.stderr.decode().strip()}")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-store"])
def test_a_read_only_directory_is_named_read_only_not_corrupt(tmp_path: Path, existing: bool) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    url = parse_store_url(f"sqlite:///{folder / 'wtb.db'}", tmp_path)
    if existing:
        open_store(url).close()
    with read_only(folder), pytest.raises(StoreError) as err:
        open_store(url)
    assert f"cannot write to directory {folder} (read-only)" in str(err.value)
    assert "corrupt" not in str(err.value)


def test_a_read_only_store_file_is_named_read_only_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "wtb.db"
    url = parse_store_url(f"sqlite:///{path}", tmp_path)
    open_store(url).close()
    with read_only(path), pytest.raises(StoreError) as err:
        open_store(url)
    assert f"cannot write to file {path} (read-only)" in str(err.value)
    assert "corrupt" not in str(err.value)


def _postgres_tables(url: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return [
            (str(r[0]), str(r[1])) for r in conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ).fetchall()
        ]


def test_postgres_with_another_applications_checkpoints_is_refused_and_a_schema_of_our_own_works(
    pg_store: StoreUnderTest,
) -> None:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    with psycopg.connect(pg_store.url, autocommit=True) as conn:
        PostgresSaver(conn).setup()  # another application's LangGraph checkpoints in schema public
    before = _postgres_tables(pg_store.url)
    with pytest.raises(StoreError) as err:
        open_store(parse_store_url(pg_store.url, Path(".")))
    text = str(err.value)
    assert f"schema 'public' of database '{pg_store.database}' holds LangGraph checkpoint tables" in text
    assert "pytest-wtb will not write into them" in text and "CREATE SCHEMA wtb" in text
    assert _postgres_tables(pg_store.url) == before

    own = f"{pg_store.url}?options=-csearch_path%3Dwtb"
    with pytest.raises(StoreError, match="names no schema that exists"):
        open_store(parse_store_url(own, Path(".")))
    with psycopg.connect(pg_store.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA wtb")
    open_store(parse_store_url(own, Path("."))).close()  # as the message says
    after = _postgres_tables(pg_store.url)
    assert [t for t in after if t[0] == "public"] == before  # theirs untouched
    assert ("wtb", schema.meta.name) in after and ("wtb", "checkpoints") in after

"""Opening a store: check the file or server, create or migrate the schema, hand out both halves.

Only a pytest-wtb store, or an empty or new file, is ever opened for writing. Anything else at the
store path is refused before a single byte of it changes (not even its journal mode).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_wtb.errors import StoreError
from pytest_wtb.store.checkpoints import CheckpointerSource, postgres_connect_kwargs
from pytest_wtb.store.migrations import LANGGRAPH_TABLES, foreign_tables_text
from pytest_wtb.store.results import ResultStore
from pytest_wtb.store.schema import meta
from pytest_wtb.store.urls import StoreURL, mask

_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_MODE: Final = b"\x02\x02"  # file format write/read version bytes (offsets 18, 19) of a WAL database
# libpq waits at most this long for the server: an unreachable store is a usage error well within 10 s
PROBE_TIMEOUT_S: Final = 5
_OTHER_STORE: Final = "pytest-wtb will not write into it. Point --wtb-store at another file."


@dataclass
class Store:
    url: StoreURL
    results: ResultStore
    checkpoints: CheckpointerSource

    def close(self) -> None:
        self.checkpoints.close()
        self.results.close()


def check_sqlite_file(url: StoreURL, create: bool = True) -> None:
    """Refuse a file that is not a pytest-wtb store (nor empty) instead of writing into it, and a
    place pytest-wtb cannot write to instead of calling it corrupt later."""
    path = url.sqlite_path
    assert path is not None
    if path.exists():
        if path.is_dir():
            raise StoreError(f"store {url.display}: {path} is a directory, not a SQLite file")
        with path.open("rb") as fh:
            head = fh.read(100)
        if head and not head.startswith(_SQLITE_MAGIC):
            raise StoreError(
                f"store {url.display}: {path} exists and is not a SQLite database; "
                "pytest-wtb will not overwrite it. Point --wtb-store at another file."
            )
        if head:
            _check_sqlite_schema(url, path, wal=head[18:20] == _WAL_MODE)
        _check_writable(url, path)
    elif not create:
        raise StoreError(f"store {url.display}: no such file; run pytest with wtb items first")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {url.display}: cannot create {path.parent}: {exc}") from exc
        _check_writable(url, path)


def _check_writable(url: StoreURL, path: Path) -> None:
    """SQLite needs the file and its directory (journal, -wal and -shm files live next to it)."""
    for where in (path, path.parent):
        if where.exists() and not os.access(where, os.W_OK):
            kind = "directory" if where.is_dir() else "file"
            raise StoreError(
                f"store {url.display}: cannot write to {kind} {where} (read-only); make it writable "
                "or point --wtb-store at a writable place"
            )


def _check_sqlite_schema(url: StoreURL, path: Path, wal: bool) -> None:
    """A read-only look before anything writes. A WAL database that no one has open (no -wal file) is
    read as immutable: a plain read-only connection would leave -wal and -shm files behind."""
    quiet = wal and not Path(f"{path}-wal").exists()
    uri = f"{path.absolute().as_uri()}?mode=ro{'&immutable=1' if quiet else ''}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            rows = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if not os.access(path.parent, os.W_OK) or not os.access(path, os.R_OK):
            _check_writable(url, path)
        raise StoreError(
            f"store {url.display}: {path} cannot be read as SQLite ({exc}): is it a corrupt file? "
            "pytest-wtb will not overwrite it. Move it away or point --wtb-store at another file."
        ) from None
    objects = {(kind, name) for kind, name in rows if not name.startswith("sqlite_")}
    if not objects or (("table", meta.name) in objects):
        return  # empty, or ours
    tables = {name for kind, name in objects if kind == "table"}
    if tables and tables <= LANGGRAPH_TABLES:
        raise StoreError(
            f"store {url.display}: {path} holds LangGraph checkpoints of another application "
            f"({foreign_tables_text(tables)}) but no pytest-wtb store; {_OTHER_STORE}"
        )
    ordered = sorted(objects, key=lambda o: (o[0] != "table", o[1]))[:5]
    if all(kind == "table" for kind, _ in ordered):
        shown = "tables: " + ", ".join(name for _, name in ordered)
    else:
        shown = "schema: " + ", ".join(f"{kind} {name}" for kind, name in ordered)
    raise StoreError(
        f"store {url.display}: {path} is a SQLite database of another application ({shown}); {_OTHER_STORE}"
    )


def probe_postgres(url: StoreURL) -> None:
    """One short connection before anything else, so a wrong host, port, database or password
    fails fast with a message that says where, not after pool and engine retries."""
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(
            f"store {url.display} needs the postgres extra: pip install 'pytest-wtb[postgres]'"
        ) from exc
    kwargs = postgres_connect_kwargs()
    kwargs["connect_timeout"] = PROBE_TIMEOUT_S
    try:
        with psycopg.connect(url.libpq_url, **kwargs) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # psycopg.Error, and anything else a bad conninfo raises
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(f"cannot connect to {url.describe()}: {mask(reason)}") from None


def open_store(url: StoreURL, max_connections: int = 16, create: bool = True) -> Store:
    """Open (and on first use create, or migrate) the result and checkpoint tables behind ``url``."""
    if url.kind == "sqlite":
        check_sqlite_file(url, create)
    else:
        probe_postgres(url)
    results = ResultStore(url)
    checkpoints = CheckpointerSource(url, max_connections=max_connections)
    try:
        results.ensure_schema(create)
        checkpoints.setup()
    except StoreError:
        checkpoints.close()
        results.close()
        raise
    except Exception as exc:
        checkpoints.close()
        results.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError(
                f"store {url.display}: {mask(str(exc))} (is {url.sqlite_path} a corrupt file?)"
            ) from None
        raise StoreError(f"store {url.display}: cannot open: {type(exc).__name__}: {mask(str(exc))}") from None
    return Store(url, results, checkpoints)

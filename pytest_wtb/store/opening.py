"""Opening a store: check the file or server, create or migrate the schema, hand out both halves."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_wtb.errors import StoreError
from pytest_wtb.store.checkpoints import CheckpointerSource, postgres_connect_kwargs
from pytest_wtb.store.migrations import LANGGRAPH_SQLITE_TABLES
from pytest_wtb.store.results import ResultStore
from pytest_wtb.store.urls import StoreURL, mask

_SQLITE_MAGIC = b"SQLite format 3\x00"
# libpq waits at most this long for the server: an unreachable store is a usage error well within 10 s
PROBE_TIMEOUT_S: Final = 5


@dataclass
class Store:
    url: StoreURL
    results: ResultStore
    checkpoints: CheckpointerSource

    def close(self) -> None:
        self.checkpoints.close()
        self.results.close()


def check_sqlite_file(url: StoreURL, create: bool = True) -> None:
    """Refuse a file that is not SQLite instead of failing deep inside (or overwriting it)."""
    path = url.sqlite_path
    assert path is not None
    if path.exists():
        if path.is_dir():
            raise StoreError(f"store {url.display}: {path} is a directory, not a SQLite file")
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head and head != _SQLITE_MAGIC:
            raise StoreError(
                f"store {url.display}: {path} exists and is not a SQLite database; "
                "pytest-wtb will not overwrite it. Point --wtb-store at another file."
            )
        if head:
            _check_sqlite_tables(url, path)
    elif not create:
        raise StoreError(f"store {url.display}: no such file; run pytest with wtb items first")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {url.display}: cannot create {path.parent}: {exc}") from exc


def _check_sqlite_tables(url: StoreURL, path: Path) -> None:
    """Read-only look before anything writes: even switching to WAL would change a foreign file."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"store {url.display}: {path} cannot be read as SQLite ({exc}): is it a corrupt file? "
            "pytest-wtb will not overwrite it. Move it away or point --wtb-store at another file."
        ) from None
    if "wtb_meta" in tables:
        return
    foreign = {t for t in tables - LANGGRAPH_SQLITE_TABLES if not t.startswith("sqlite_")}
    if foreign:
        shown = ", ".join(sorted(foreign)[:5])
        raise StoreError(
            f"store {url.display}: {path} is a SQLite database of another application (tables: {shown}); "
            "pytest-wtb will not write into it. Point --wtb-store at another file."
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
            raise StoreError(f"store {url.display}: {exc} (is {url.sqlite_path} a corrupt file?)") from exc
        raise StoreError(f"store {url.display}: cannot open: {type(exc).__name__}: {mask(str(exc))}") from exc
    return Store(url, results, checkpoints)

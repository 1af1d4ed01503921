"""Where results and LangGraph checkpoints go: one URL, SQLite (default) or PostgreSQL."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pytest_wtb.errors import StoreError
from pytest_wtb.store.checkpoints import CheckpointerSource
from pytest_wtb.store.results import ResultStore
from pytest_wtb.store.urls import StoreURL, mask, parse_store_url

__all__ = ["CheckpointerSource", "ResultStore", "Store", "StoreURL", "mask", "open_store", "parse_store_url"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class Store:
    url: StoreURL
    results: ResultStore
    checkpoints: CheckpointerSource

    def close(self) -> None:
        self.checkpoints.close()
        self.results.close()


def check_sqlite_file(url: StoreURL) -> None:
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
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {url.display}: cannot create {path.parent}: {exc}") from exc


def open_store(url: StoreURL, max_connections: int = 16, create: bool = True) -> Store:
    """Open (and on first use create) the result tables and checkpoint tables behind ``url``."""
    if url.kind == "sqlite":
        check_sqlite_file(url)
        if not create and not (url.sqlite_path and url.sqlite_path.exists()):
            raise StoreError(f"store {url.display}: no such file; run pytest with wtb items first")
    results = ResultStore(url)
    checkpoints = CheckpointerSource(url, max_connections=max_connections)
    try:
        results.ensure_schema()
        checkpoints.setup()
    except sqlite3.DatabaseError as exc:
        results.close()
        raise StoreError(f"store {url.display}: {exc}") from exc
    except StoreError:
        results.close()
        checkpoints.close()
        raise
    except Exception as exc:
        results.close()
        checkpoints.close()
        raise StoreError(f"store {url.display}: cannot open: {type(exc).__name__}: {mask(str(exc))}") from exc
    return Store(url, results, checkpoints)

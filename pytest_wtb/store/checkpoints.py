"""LangGraph checkpointers for a store URL: one saver per worker thread or actor, tables set up once."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from pytest_wtb.errors import StoreError
from pytest_wtb.store.urls import StoreURL


def _sqlite_connection(url: StoreURL) -> sqlite3.Connection:
    conn = sqlite3.connect(str(url.sqlite_path), check_same_thread=False, timeout=30)
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


class CheckpointerSource:
    """Hands out savers that write into the store; each caller gets its own saver (and connection)."""

    def __init__(self, url: StoreURL, max_connections: int = 16) -> None:
        self.url = url
        self._max_connections = max_connections
        self._pool: Any = None
        self._sqlite_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ready = False

    def setup(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self.url.kind == "sqlite":
                from langgraph.checkpoint.sqlite import SqliteSaver

                conn = _sqlite_connection(self.url)
                try:
                    SqliteSaver(conn).setup()
                finally:
                    conn.close()
            else:
                self._setup_postgres()
            self._ready = True

    def _setup_postgres(self) -> None:
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError(
                f"store {self.url.display} needs the postgres extra: pip install 'pytest-wtb[postgres]'"
            ) from exc
        kwargs = {"autocommit": True, "row_factory": dict_row, "prepare_threshold": None}
        self._pool = ConnectionPool(
            self.url.libpq_url, min_size=1, max_size=self._max_connections, kwargs=kwargs, open=True
        )
        self._pool.wait(timeout=10)
        PostgresSaver(self._pool).setup()

    def new(self) -> Any:
        """A saver for one thread; closed by ``close()``."""
        self.setup()
        if self.url.kind == "sqlite":
            from langgraph.checkpoint.sqlite import SqliteSaver

            try:
                conn = _sqlite_connection(self.url)
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.url.display}: {exc}") from exc
            with self._lock:
                self._sqlite_conns.append(conn)
            saver = SqliteSaver(conn)
            saver.is_setup = True
            return saver
        from langgraph.checkpoint.postgres import PostgresSaver

        return PostgresSaver(self._pool)

    def close(self) -> None:
        with self._lock:
            conns, self._sqlite_conns = self._sqlite_conns, []
            pool, self._pool = self._pool, None
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass  # a connection still used by an abandoned (timed-out) thread
        if pool is not None:
            pool.close(timeout=5)
        self._ready = False

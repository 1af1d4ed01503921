"""LangGraph checkpointers for a store URL: one saver per worker thread or actor, tables set up once."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any, Final

from pytest_wtb.errors import StoreError
from pytest_wtb.store.serde import strict_serde
from pytest_wtb.store.urls import StoreURL

# Savers borrow a pooled connection per operation, so a few connections serve many worker threads.
MAX_POOL: Final = 8
POOL_TIMEOUT_S: Final = 10
FAIL_FAST_S: Final = 0.5  # how long to wait for a connection once the server has been seen gone
SETUP_ATTEMPTS: Final = 4
# A server that vanishes without closing its sockets (a lost machine, a dropped network) must not
# leave a query waiting for TCP's own timeout (minutes): libpq gives up after these.
TCP_SETTINGS: Final = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30000,
}


def _sqlite_connection(url: StoreURL) -> sqlite3.Connection:
    conn = sqlite3.connect(str(url.sqlite_path), check_same_thread=False, timeout=30)
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def postgres_connect_kwargs() -> dict[str, Any]:
    """psycopg settings for savers: what PostgresSaver needs, and no server-side prepared
    statements (``prepare_threshold=None``) so the store works behind PgBouncer in transaction mode."""
    from psycopg.rows import dict_row

    return {"autocommit": True, "row_factory": dict_row, "prepare_threshold": None, **TCP_SETTINGS}


class CheckpointerSource:
    """Hands out savers that write into the store; each caller gets its own saver (and connection)."""

    def __init__(self, url: StoreURL, max_connections: int = 16) -> None:
        self.url = url
        self._max_connections = max(1, min(max_connections, MAX_POOL))
        self._pool: Any = None
        # each connection with the thread that uses it: see close()
        self._sqlite_conns: list[tuple[sqlite3.Connection, threading.Thread]] = []
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
                    SqliteSaver(conn, serde=strict_serde()).setup()
                finally:
                    conn.close()
            else:
                self._setup_postgres()
            self._ready = True

    def _setup_postgres(self) -> None:
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError(
                f"store {self.url.display} needs the postgres extra: pip install 'pytest-wtb[postgres]'"
            ) from exc
        self._pool = _fail_fast(ConnectionPool)(
            self.url.libpq_url,
            min_size=1,
            max_size=self._max_connections,
            kwargs=postgres_connect_kwargs(),
            timeout=POOL_TIMEOUT_S,
            open=True,
            name="pytest-wtb-checkpoints",
        )
        self._pool.wait(timeout=POOL_TIMEOUT_S)
        saver = PostgresSaver(self._pool, serde=strict_serde())
        if _migrated(self._pool, len(saver.MIGRATIONS)):
            return
        # Processes opening a fresh store at once race on CREATE TABLE/INDEX and on the migration
        # rows; every LangGraph migration is idempotent, so the loser simply runs setup() again.
        # (No advisory lock: a session lock is unsafe behind PgBouncer in transaction mode.)
        import psycopg

        for attempt in range(SETUP_ATTEMPTS):
            try:
                saver.setup()
                return
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable,
                    psycopg.errors.DuplicateObject, psycopg.errors.DeadlockDetected):
                if attempt == SETUP_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))

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
                self._sqlite_conns.append((conn, threading.current_thread()))
            saver = SqliteSaver(conn, serde=strict_serde())
            saver.is_setup = True
            return saver
        from langgraph.checkpoint.postgres import PostgresSaver

        return PostgresSaver(self._pool, serde=strict_serde())

    def delete_threads(self, thread_ids: Iterable[str]) -> int:
        """Delete the checkpoints of these threads (LangGraph's own delete_thread); how many."""
        saver = self.new()
        count = 0
        for thread_id in thread_ids:
            saver.delete_thread(thread_id)
            count += 1
        return count

    def close(self) -> None:
        with self._lock:
            conns, self._sqlite_conns = self._sqlite_conns, []
            pool, self._pool = self._pool, None
        for conn, user in conns:
            # Closing a connection another thread is inside of can crash the interpreter (seen: a
            # segfault when a timed-out node woke up). A stuck thread's connection is left to the
            # process exit; everything else is closed.
            if user is not threading.current_thread() and user.is_alive():
                continue
            try:
                conn.close()
            except sqlite3.Error:
                pass
        if pool is not None:
            pool.close(timeout=5)
        self._ready = False


def _fail_fast(pool_class: Any) -> Any:
    """The pool class, but once a connection could not be had within its timeout (the server is
    gone), later requests wait only FAIL_FAST_S until one is handed out again: executions queued
    behind a dead store then fail in a second each instead of POOL_TIMEOUT_S per saver call."""
    from psycopg_pool import PoolTimeout

    class FailFastPool(pool_class):  # type: ignore[misc]
        server_gone = False

        def getconn(self, timeout: float | None = None) -> Any:
            if self.server_gone:
                timeout = min(self.timeout if timeout is None else timeout, FAIL_FAST_S)
            try:
                conn = super().getconn(timeout)
            except PoolTimeout:
                self.server_gone = True
                raise
            self.server_gone = False
            return conn

    return FailFastPool


def _migrated(pool: Any, migrations: int) -> bool:
    """True when LangGraph's checkpoint tables are already at its latest migration (no DDL needed)."""
    import psycopg

    try:
        with pool.connection() as conn:
            row = conn.execute("SELECT max(v) AS v FROM checkpoint_migrations").fetchone()
    except psycopg.errors.UndefinedTable:
        return False
    return row is not None and row["v"] is not None and int(row["v"]) >= migrations - 1

"""PostgreSQL for the benchmarks: throwaway databases, sessions opened, connections polled at peak."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql://postgres@127.0.0.1:5432/"


class PgDatabases:
    """Throwaway databases wtb_bench_<random>_<n>, each dropped when done (and all at exit)."""

    def __init__(self) -> None:
        self.prefix = f"wtb_bench_{uuid.uuid4().hex[:8]}"
        self.made: list[str] = []
        self._n = 0

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> str:
        self._n += 1
        name = f"{self.prefix}_{self._n}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return name

    def drop(self, name: str) -> None:
        if name in self.made:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.made.remove(name)

    def drop_all(self) -> None:
        for name in list(self.made):
            try:
                self.drop(name)
            except Exception as exc:  # report, never hide a leftover database
                print(f"  WARNING: could not drop database {name}: {exc}", flush=True)


def pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def pg_sessions(db: str) -> int:
    """Sessions ever opened to ``db`` (pg_stat_database.sessions, PostgreSQL 14+), -1 if unknown."""
    import psycopg

    time.sleep(1.0)  # session statistics are flushed when a backend exits
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (db,)).fetchone()
    except Exception:
        return -1
    return int(row[0]) if row and row[0] is not None else -1


def connection_poller(db: str, peak: dict[str, int]) -> Callable[[threading.Event], None]:
    """Polls pg_stat_activity for ``db`` every 20 ms from its own connection to another database."""

    def poll(stop: threading.Event) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            while not stop.wait(0.02):
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db,)).fetchone()
                peak["max"] = max(peak["max"], int(row[0]) if row else 0)
                peak["samples"] += 1

    return poll

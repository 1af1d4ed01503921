"""SQLAlchemy engines for the result tables: SQLite with our own BEGIN IMMEDIATE, PostgreSQL bounded."""

from __future__ import annotations

import sqlite3
from typing import Final

from sqlalchemy import Connection, Engine, create_engine, event

from pytest_wtb.store.checkpoints import TCP_SETTINGS
from pytest_wtb.store.urls import StoreURL

POOL_TIMEOUT_S: Final = 10


def sqlite_engine(url: StoreURL) -> Engine:
    engine = create_engine(
        url.sqlalchemy_url,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=4,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # pysqlite's implicit transactions let a read-then-write lose updates; we BEGIN ourselves.
        dbapi_conn.isolation_level = None
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def postgres_engine(url: StoreURL) -> Engine:
    return create_engine(
        url.sqlalchemy_url,
        # bounded: the driver's writes are short; checkpoints have their own pool (checkpoints.py)
        pool_size=2,
        max_overflow=3,
        pool_timeout=POOL_TIMEOUT_S,
        pool_pre_ping=True,
        # works behind PgBouncer in transaction mode: no server-side prepared statements
        connect_args={"prepare_threshold": None, **TCP_SETTINGS},
    )

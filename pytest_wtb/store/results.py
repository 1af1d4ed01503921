"""Run and execution rows through SQLAlchemy. The driver process is the only writer of these rows."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from pytest_wtb.errors import StoreError
from pytest_wtb.model import FINAL_STATUSES, RUNNING, ErrorInfo, ExecutionResult, ExecutionSpec, NodeRun
from pytest_wtb.plan import canonical_input
from pytest_wtb.store import schema
from pytest_wtb.store.urls import StoreURL


def _sqlite_engine(url: StoreURL) -> Engine:
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


def _postgres_engine(url: StoreURL) -> Engine:
    return create_engine(
        url.sqlalchemy_url,
        pool_size=2,
        max_overflow=8,
        pool_pre_ping=True,
        # works behind PgBouncer in transaction mode: no server-side prepared statements
        connect_args={"prepare_threshold": None, "connect_timeout": 10},
    )


class ResultStore:
    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self.engine = _sqlite_engine(url) if url.kind == "sqlite" else _postgres_engine(url)
        # In one process, queue our own writers instead of letting SQLite's busy handler sleep.
        self._write_lock = threading.Lock() if url.kind == "sqlite" else None
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        self._serde = JsonPlusSerializer()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            if self._write_lock is None:
                with self.engine.begin() as conn:
                    yield conn
            else:
                with self._write_lock, self.engine.begin() as conn:
                    yield conn
        except (OperationalError, DBAPIError) as exc:
            raise StoreError(f"store {self.url.display}: {_short(exc)}") from exc

    def ensure_schema(self) -> None:
        try:
            with self._tx() as conn:
                schema.metadata.create_all(conn)
                row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version"))
                found = row.scalar()
                if found is None:
                    conn.execute(insert(schema.meta).values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
                elif int(found) > schema.SCHEMA_VERSION:
                    raise StoreError(
                        f"store {self.url.display} was written by a newer pytest-wtb (schema {found}, "
                        f"this one knows {schema.SCHEMA_VERSION}): upgrade pytest-wtb or use another --wtb-store"
                    )
        except IntegrityError:
            pass  # another process created the version row first

    def start_run(self, run_id: str, backend: str, **info: Any) -> None:
        with self._tx() as conn:
            exists = conn.execute(select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)).first()
            if exists is None:
                conn.execute(
                    insert(schema.runs).values(
                        run_id=run_id, started_at=time.time(), status=RUNNING, backend=backend, **info
                    )
                )

    def end_run(self, run_id: str, status: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(schema.runs)
                .where(schema.runs.c.run_id == run_id)
                .values(ended_at=time.time(), status=status)
            )

    def claim(self, spec: ExecutionSpec, owner: str, backend: str) -> bool:
        """Insert the execution as running; False if another process (an xdist worker) has it."""
        row = dict(
            run_id=spec.run_id,
            exec_key=spec.key,
            thread_id=spec.thread_id,
            scope=spec.scope,
            variant=spec.variant_name,
            case_id=spec.case_id,
            input_hash=hashlib.sha256(canonical_input(spec.input).encode()).hexdigest(),
            status=RUNNING,
            attempts=0,
            owner=owner,
            backend=backend,
            started_at=time.time(),
        )
        try:
            with self._tx() as conn:
                taken = conn.execute(
                    select(schema.executions.c.owner).where(
                        schema.executions.c.run_id == spec.run_id, schema.executions.c.exec_key == spec.key
                    )
                ).first()
                if taken is not None:
                    return False
                conn.execute(insert(schema.executions).values(**row))
        except StoreError as exc:
            if "UNIQUE" in str(exc) or "duplicate key" in str(exc):
                return False
            raise
        except IntegrityError:
            return False
        return True

    def take_over(self, run_id: str, key: str, dead_owner: str, owner: str) -> bool:
        with self._tx() as conn:
            done = conn.execute(
                update(schema.executions)
                .where(
                    schema.executions.c.run_id == run_id,
                    schema.executions.c.exec_key == key,
                    schema.executions.c.owner == dead_owner,
                    schema.executions.c.status == RUNNING,
                )
                .values(owner=owner, started_at=time.time())
            )
            return bool(done.rowcount)

    def record(self, run_id: str, result: ExecutionResult) -> None:
        state_type, state_blob = (None, None)
        if result.state is not None:
            state_type, state_blob = self._serde.dumps_typed(result.state)
        err = result.error
        with self._tx() as conn:
            conn.execute(
                update(schema.executions)
                .where(schema.executions.c.run_id == run_id, schema.executions.c.exec_key == result.key)
                .values(
                    status=result.status,
                    attempts=result.attempts,
                    backend=result.backend,
                    worker=result.worker,
                    started_at=result.started_at or None,
                    ended_at=time.time(),
                    duration_s=result.duration_s,
                    error_type=err.type if err else None,
                    error_message=err.message if err else None,
                    error_node=err.node if err else None,
                    error_traceback=err.traceback if err else None,
                    checkpoint_id=result.checkpoint_id,
                    state_type=state_type,
                    state_blob=state_blob,
                    nodes_json=json.dumps([asdict(n) for n in result.nodes]),
                )
            )

    def execution_row(self, run_id: str, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.executions).where(
                    schema.executions.c.run_id == run_id, schema.executions.c.exec_key == key
                )
            ).first()
        return dict(row._mapping) if row is not None else None

    def find_thread(self, thread_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.executions).where(schema.executions.c.thread_id == thread_id)).first()
        return dict(row._mapping) if row is not None else None

    def result_from_row(self, row: dict[str, Any]) -> ExecutionResult | None:
        """The ExecutionResult another process recorded, or None while it is still running."""
        if row["status"] not in FINAL_STATUSES:
            return None
        state = None
        if row["state_blob"] is not None:
            state = self._serde.loads_typed((row["state_type"], row["state_blob"]))
        err = None
        if row["error_type"]:
            err = ErrorInfo(
                type=row["error_type"],
                message=row["error_message"] or "",
                node=row["error_node"],
                traceback=row["error_traceback"] or "",
            )
        nodes = tuple(NodeRun(**n) for n in json.loads(row["nodes_json"] or "[]"))
        return ExecutionResult(
            key=row["exec_key"],
            thread_id=row["thread_id"],
            variant=row["variant"],
            case_id=row["case_id"],
            status=row["status"],
            state=state,
            checkpoint_id=row["checkpoint_id"],
            error=err,
            started_at=row["started_at"] or 0.0,
            duration_s=row["duration_s"] or 0.0,
            attempts=row["attempts"] or 1,
            backend=row["backend"] or "",
            worker=row["worker"] or "",
            nodes=nodes,
        )

    def record_parity(self, **row: Any) -> None:
        with self._tx() as conn:
            conn.execute(insert(schema.parity_outcomes).values(**row))

    def record_dead_letter(self, run_id: str, key: str, thread_id: str, errors: list[str]) -> None:
        with self._tx() as conn:
            conn.execute(
                insert(schema.dead_letters).values(
                    run_id=run_id,
                    exec_key=key,
                    thread_id=thread_id,
                    attempts=len(errors),
                    errors_json=json.dumps(errors),
                    created_at=time.time(),
                )
            )

    def close(self) -> None:
        self.engine.dispose()


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]

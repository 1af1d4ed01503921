"""Run and execution rows through SQLAlchemy, each change with its outbox event in one transaction.

The driver processes (pytest, or its xdist workers) are the only writers of these rows.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Final

from sqlalchemy import Connection, Table, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from pytest_wtb.errors import StoreError
from pytest_wtb.model import FINAL_STATUSES, LOST, RUNNING, ErrorInfo, ExecutionResult, ExecutionSpec, NodeRun
from pytest_wtb.plan import canonical_input
from pytest_wtb.store import migrations, schema
from pytest_wtb.store.engines import postgres_engine, sqlite_engine
from pytest_wtb.store.urls import StoreURL, mask

ABANDONED: Final = "abandoned"  # a stored status only: the run that owned the execution died


class ResultStore:
    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self.engine = sqlite_engine(url) if url.kind == "sqlite" else postgres_engine(url)
        # In one process, queue our own writers instead of letting SQLite's busy handler sleep.
        self._write_lock = threading.Lock() if url.kind == "sqlite" else None
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        self.serde = JsonPlusSerializer()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            if self._write_lock is None:
                with self.engine.begin() as conn:
                    yield conn
            else:
                with self._write_lock, self.engine.begin() as conn:
                    yield conn
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise StoreError(f"store {self.url.display}: {_short(exc)}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for queries; store errors come out as StoreError."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise StoreError(f"store {self.url.display}: {_short(exc)}") from exc

    def ensure_schema(self, create: bool = True) -> int:
        """Create, migrate or refuse the result tables; the version found (0 = new store)."""
        with self.write() as conn:
            return migrations.ensure_schema(conn, f"store {self.url.display}", create)

    def outbox_event(self, conn: Connection, event_type: str, run_id: str, **fields: Any) -> None:
        """An outbox row, in the caller's transaction so it commits or rolls back with the change."""
        exec_key, thread_id = fields.pop("exec_key", None), fields.pop("thread_id", None)
        conn.execute(
            insert(schema.outbox).values(
                event_id=uuid.uuid4().hex,
                run_id=run_id,
                exec_key=exec_key,
                thread_id=thread_id,
                event_type=event_type,
                payload_json=json.dumps(fields, default=str),
                created_at=time.time(),
            )
        )

    def start_run(self, run_id: str, backend: str, **info: Any) -> None:
        """Record the run (once: xdist workers share its id) and its first heartbeat."""
        now = time.time()
        values = dict(run_id=run_id, started_at=now, heartbeat_at=now, status=RUNNING, backend=backend, **info)
        with self.write() as conn:
            if self._inserted(conn, schema.runs, values):
                self.outbox_event(conn, "run.started", run_id, backend=backend, host=info.get("host"))
            else:
                self.heartbeat(run_id, conn)

    def heartbeat(self, run_id: str, conn: Connection | None = None) -> None:
        stmt = update(schema.runs).where(schema.runs.c.run_id == run_id).values(heartbeat_at=time.time())
        if conn is not None:
            conn.execute(stmt)
            return
        with self.write() as tx:
            tx.execute(stmt)

    def end_run(self, run_id: str, status: str) -> None:
        """End the run; with several xdist workers ending it, 'failed' wins over 'passed'."""
        runs = schema.runs.c
        new_status = case((runs.status.in_(("failed", "error")), runs.status), else_=status)
        with self.write() as conn:
            conn.execute(
                update(schema.runs)
                .where(runs.run_id == run_id)
                .values(ended_at=time.time(), heartbeat_at=time.time(), status=new_status)
            )
            self.outbox_event(conn, "run.ended", run_id, status=status)

    def _inserted(self, conn: Connection, table: Table, values: dict[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING RETURNING: True if this process won the row.
        (Not rowcount: SQLAlchemy reports -1 for it with psycopg.)"""
        dialect = postgresql if self.url.kind == "postgresql" else sqlite
        first_key = next(iter(table.primary_key.columns))
        stmt = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(first_key)
        return conn.execute(stmt).first() is not None

    def claim(self, spec: ExecutionSpec, owner: str, backend: str) -> bool:
        """Insert the execution as running; False if another process (an xdist worker) has it."""
        row = dict(
            run_id=spec.run_id,
            exec_key=spec.key,
            thread_id=spec.thread_id,
            scope=spec.scope,
            variant=spec.variant_name,
            case_id=spec.case_id,
            input_hash=input_hash(spec.input),
            status=RUNNING,
            attempts=0,
            owner=owner,
            backend=backend,
            started_at=time.time(),
            module_path=_module_file(spec.scope),
        )
        with self.write() as conn:
            if not self._inserted(conn, schema.executions, row):
                return False
            self.outbox_event(conn, "execution.claimed", spec.run_id, exec_key=spec.key, thread_id=spec.thread_id,
                        owner=owner, variant=spec.variant_name, case_id=spec.case_id)
        return True

    def take_over(self, run_id: str, key: str, dead_owner: str, owner: str) -> bool:
        ex = schema.executions.c
        with self.write() as conn:
            done = conn.execute(
                update(schema.executions)
                .where(ex.run_id == run_id, ex.exec_key == key, ex.owner == dead_owner, ex.status == RUNNING)
                .values(owner=owner, started_at=time.time())
            )
            if done.rowcount:
                self.outbox_event(
                    conn, "execution.taken_over", run_id, exec_key=key, owner=owner, dead_owner=dead_owner
                )
            return bool(done.rowcount)

    def record(self, run_id: str, result: ExecutionResult) -> None:
        state_type, state_blob = (None, None)
        if result.state is not None:
            state_type, state_blob = self.serde.dumps_typed(result.state)
        err = result.error
        ex = schema.executions.c
        with self.write() as conn:
            conn.execute(
                update(schema.executions)
                .where(ex.run_id == run_id, ex.exec_key == result.key)
                .values(
                    status=result.status,
                    attempts=result.attempts,
                    backend=result.backend,
                    worker=result.worker,
                    started_at=result.started_at or None,
                    ended_at=time.time(),
                    duration_s=result.duration_s,
                    error_type=err.type if err else None,
                    error_message=mask(err.message) if err else None,
                    error_node=err.node if err else None,
                    error_traceback=mask(err.traceback) if err else None,
                    checkpoint_id=result.checkpoint_id,
                    state_type=state_type,
                    state_blob=state_blob,
                    nodes_json=json.dumps([asdict(n) for n in result.nodes]),
                )
            )
            self.outbox_event(conn, f"execution.{result.status}", run_id, exec_key=result.key,
                        thread_id=result.thread_id, checkpoint_id=result.checkpoint_id,
                        attempts=result.attempts, error_type=err.type if err else None)

    def execution_row(self, run_id: str, key: str) -> dict[str, Any] | None:
        ex = schema.executions.c
        with self.read() as conn:
            row = conn.execute(select(schema.executions).where(ex.run_id == run_id, ex.exec_key == key)).first()
        return dict(row._mapping) if row is not None else None

    def find_thread(self, thread_id: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(select(schema.executions).where(schema.executions.c.thread_id == thread_id)).first()
        return dict(row._mapping) if row is not None else None

    def load_state(self, row: dict[str, Any]) -> dict[str, Any] | None:
        if row["state_blob"] is None:
            return None
        state: dict[str, Any] = self.serde.loads_typed((row["state_type"], bytes(row["state_blob"])))
        return state

    def result_from_row(self, row: dict[str, Any]) -> ExecutionResult | None:
        """The ExecutionResult another process recorded, or None while it is still running."""
        status = LOST if row["status"] == ABANDONED else row["status"]
        if status not in FINAL_STATUSES:
            return None
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
            status=status,
            state=self.load_state(row),
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
        with self.write() as conn:
            conn.execute(insert(schema.parity_outcomes).values(**row))

    def record_dead_letter(self, run_id: str, key: str, thread_id: str, errors: list[str]) -> None:
        errors = [mask(e) for e in errors]
        with self.write() as conn:
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
            self.outbox_event(conn, "execution.dead_lettered", run_id, exec_key=key, thread_id=thread_id,
                        attempts=len(errors))

    def close(self) -> None:
        self.engine.dispose()


def input_hash(value: Any) -> str:
    """What wtb_executions.input_hash holds: tells whether a case's input changed between runs."""
    return hashlib.sha256(canonical_input(value).encode()).hexdigest()


def _module_file(scope: str) -> str | None:
    """The file of the test module that declares the variants, so `replay` can import it again."""
    path = getattr(sys.modules.get(scope), "__file__", None)
    return str(path) if path else None


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return mask(lines[0] if lines else type(exc).__name__)

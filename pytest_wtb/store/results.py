"""Run and execution rows through SQLAlchemy, each change with its outbox event in one transaction.

The driver processes (pytest, or its xdist workers) are the only writers of these rows.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Table, bindparam, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from pytest_wtb.errors import StoreError
from pytest_wtb.execute.tape import Snapshot
from pytest_wtb.model import RUNNING, ExecutionResult, ExecutionSpec
from pytest_wtb.store import migrations, recordings, rows, schema
from pytest_wtb.store.engines import postgres_engine, sqlite_engine
from pytest_wtb.store.rows import claim_row, outbox_row
from pytest_wtb.store.serde import strict_serde
from pytest_wtb.store.urls import StoreURL, mask

# rows per multi-row INSERT: far below SQLite's 32,766 bound variables at 13 columns a row
CLAIM_ROWS: Final = 500

_ex = schema.executions.c
# Built once: executemany runs one compiled statement for a whole group of results.
_RECORD = update(schema.executions).where(
    _ex.run_id == bindparam("b_run_id"), _ex.exec_key == bindparam("b_exec_key")
)
_OUTBOX = insert(schema.outbox)


class ResultStore:
    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self.engine = sqlite_engine(url) if url.kind == "sqlite" else postgres_engine(url)
        # In one process, queue our own writers instead of letting SQLite's busy handler sleep.
        self._write_lock = threading.Lock() if url.kind == "sqlite" else None
        # what a store reader revives is an allow-list: a crafted row must not run code (serde.py)
        self.serde = strict_serde()

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
        self.outbox_events(conn, [outbox_row(event_type, run_id, **fields)])

    def outbox_events(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Several outbox rows (from ``outbox_row``) in one statement, in the caller's transaction."""
        if rows:
            conn.execute(_OUTBOX, rows)

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
        return spec.key in self.claim_many([spec], owner, backend)

    def claim_many(self, specs: list[ExecutionSpec], owner: str, backend: str) -> set[str]:
        """Claim several executions in one transaction; the keys this process won.

        INSERT ... ON CONFLICT DO NOTHING RETURNING: a key another process (an xdist worker) holds
        is simply not returned, so racing claimers never both win one execution.
        """
        won: set[str] = set()
        if not specs:
            return won
        dialect = postgresql if self.url.kind == "postgresql" else sqlite
        now = time.time()
        with self.write() as conn:
            for start in range(0, len(specs), CLAIM_ROWS):
                chunk = specs[start : start + CLAIM_ROWS]
                rows = [claim_row(s, owner, backend, now) for s in chunk]
                # executemany: SQLAlchemy batches the rows into multi-row INSERTs ("insertmanyvalues")
                # from one cached compiled statement; .values(rows) compiled anew for every chunk
                stmt = dialect.insert(schema.executions).on_conflict_do_nothing().returning(_ex.exec_key)
                won.update(r[0] for r in conn.execute(stmt, rows))
            self.outbox_events(conn, [
                outbox_row("execution.claimed", s.run_id, exec_key=s.key, thread_id=s.thread_id,
                           owner=owner, variant=s.variant_name, case_id=s.case_id)
                for s in specs if s.key in won
            ])
        return won

    def release_claims(self, run_id: str, keys: list[str], owner: str) -> None:
        """Drop claims that never started running (the run stopped first), so the store holds
        only executions that ran; another process may then claim them."""
        with self.write() as conn:
            gone = conn.execute(
                delete(schema.executions)
                .where(_ex.run_id == run_id, _ex.exec_key.in_(keys), _ex.owner == owner, _ex.status == RUNNING)
                .returning(_ex.exec_key, _ex.thread_id)
            ).all()
            self.outbox_events(conn, [
                outbox_row("execution.released", run_id, exec_key=key, thread_id=thread_id, owner=owner)
                for key, thread_id in gone
            ])

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
        self.record_many(run_id, [result])

    def record_many(self, run_id: str, results: list[ExecutionResult]) -> None:
        """Record final results in one transaction (one executemany), each with its outbox event."""
        if not results:
            return
        now = time.time()
        values = [rows.result_row(self.serde, run_id, r, now) for r in results]
        events = [
            outbox_row(f"execution.{r.status}", run_id, exec_key=r.key, thread_id=r.thread_id,
                       checkpoint_id=r.checkpoint_id, attempts=r.attempts,
                       error_type=r.error.type if r.error else None)
            for r in results
        ]
        with self.write() as conn:
            conn.execute(_RECORD, values)
            self.outbox_events(conn, events)
            recordings.write(conn, run_id, results)

    def import_recordings(self, paths: list[Path]) -> None:
        """Recordings files (``recordings --export``) into the store; a recording the store has stays."""
        for path in paths:
            with self.write() as conn:
                recordings.import_file(conn, path)

    def recordings_snapshot(self, run_id: str) -> Snapshot:
        with self.read() as conn:
            return recordings.snapshot(conn, run_id)

    def load_state(self, row: dict[str, Any]) -> dict[str, Any] | None:
        return rows.load_state(self.serde, row)

    def result_from_row(self, row: dict[str, Any]) -> ExecutionResult | None:
        """The ExecutionResult another process recorded, or None while it is still running."""
        return rows.result_from_row(self.serde, row)

    def execution_row(self, run_id: str, key: str) -> dict[str, Any] | None:
        ex = schema.executions.c
        with self.read() as conn:
            row = conn.execute(select(schema.executions).where(ex.run_id == run_id, ex.exec_key == key)).first()
        return dict(row._mapping) if row is not None else None

    def find_thread(self, thread_id: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(select(schema.executions).where(schema.executions.c.thread_id == thread_id)).first()
        return dict(row._mapping) if row is not None else None

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


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return mask(lines[0] if lines else type(exc).__name__)

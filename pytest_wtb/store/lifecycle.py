"""Runs that die, and runs that are old: heartbeats, marking abandoned executions, pruning.

A live run refreshes ``wtb_runs.heartbeat_at`` every HEARTBEAT_S seconds. A run killed without
finishing (SIGKILL, a cancelled CI job, a lost machine) stops doing so; the next run that opens the
store marks that run and its unfinished executions abandoned once the heartbeat is older than
ABANDON_AFTER_S, or at once when its process was on this host and is gone. Pruning deletes
whole runs older than ``keep_days``: rows, outbox events and their LangGraph checkpoints,
checkpoints first, so an interrupted prune is simply run again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, func, select, update

from pytest_wtb.errors import StoreError
from pytest_wtb.model import RUNNING
from pytest_wtb.store import schema
from pytest_wtb.store.names import names_of
from pytest_wtb.store.results import ResultStore
from pytest_wtb.store.rows import ABANDONED

if TYPE_CHECKING:
    from pytest_wtb.store import Store

HEARTBEAT_S: Final = 30.0
ABANDON_AFTER_S: Final = 600.0
_CHUNK: Final = 500
SECONDS_PER_DAY: Final = 86400.0


@dataclass(frozen=True)
class Reaped:
    runs: tuple[str, ...]
    executions: tuple[str, ...]  # thread_ids
    unfinished: tuple[tuple[str, str, str, str], ...] = ()  # (run_id, thread_id, variant, case_id) of those
    owners: tuple[tuple[str, str | None], ...] = ()  # (run_id, owner) of the runs


def reap_abandoned(
    results: ResultStore, abandon_after_s: float = ABANDON_AFTER_S, by: str = "", now: float | None = None
) -> Reaped:
    """Mark runs without a heartbeat for ``abandon_after_s`` seconds, and their running executions,
    abandoned; at once when their process is visibly gone (this host, pid gone: see runs.dead_local).
    Safe to run from several processes at once: each row is marked (and evented) once."""
    from pytest_wtb.store.runs import dead_local

    now = time.time() if now is None else now
    runs_c, ex = schema.runs.c, schema.executions.c
    last_seen = func.coalesce(runs_c.heartbeat_at, runs_c.started_at)
    dead_owners, dead_runs = dead_local(results)
    stale_runs = select(runs_c.run_id).where(last_seen < now - abandon_after_s)
    by_text = f"; marked abandoned{f' by run {by}' if by else ''}"
    message = f"the pytest process running it stopped without finishing (no heartbeat for {abandon_after_s:g}s)"
    returning = (ex.run_id, ex.exec_key, ex.thread_id, ex.variant, ex.case_id)
    with results.write() as conn:
        executions: list[Any] = []
        for owner, pid in sorted(dead_owners.items()):
            executions += conn.execute(
                update(schema.executions)
                .where(ex.status == RUNNING, ex.owner == owner, ex.run_id != by)  # own run: taken over
                .values(status=ABANDONED, ended_at=now, error_type="Abandoned",
                        error_message=f"its pytest process {pid} on this host is gone: it stopped without "
                                      f"finishing{by_text}")
                .returning(*returning)
            ).all()
        executions += conn.execute(
            update(schema.executions)
            .where(ex.status == RUNNING, ex.run_id.in_(stale_runs))
            .values(status=ABANDONED, ended_at=now, error_type="Abandoned", error_message=message + by_text)
            .returning(*returning)
        ).all()
        for run_id, exec_key, thread_id, _, _ in executions:
            results.outbox_event(
                conn, "execution.abandoned", run_id, exec_key=exec_key, thread_id=thread_id, by=by
            )
        runs = conn.execute(
            update(schema.runs)
            .where(runs_c.status == RUNNING, (last_seen < now - abandon_after_s) | runs_c.run_id.in_(dead_runs))
            .values(status=ABANDONED, ended_at=last_seen)
            .returning(runs_c.run_id, runs_c.owner)
        ).all()
        for run_id, _ in runs:
            results.outbox_event(conn, "run.abandoned", run_id, by=by)
    return Reaped(
        tuple(r[0] for r in runs),
        tuple(e[2] for e in executions),
        tuple((e[0], e[2], e[3], e[4]) for e in executions),
        tuple((r[0], r[1]) for r in runs),
    )


class SessionLifecycleManager:
    """One run's liveness: reap dead runs when it starts, beat while it lives, stop when it ends."""

    def __init__(
        self,
        results: ResultStore,
        run_id: str,
        heartbeat_s: float = HEARTBEAT_S,
        abandon_after_s: float = ABANDON_AFTER_S,
    ) -> None:
        self.results = results
        self.run_id = run_id
        self.heartbeat_s = heartbeat_s
        self.abandon_after_s = abandon_after_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beat_errors = 0
        self._file_id: tuple[int, int] | None = None
        self.lost: str | None = None  # set by stop() when the store file went away during the run

    def start(self) -> Reaped:
        self._file_id = _file_id(self.results.url.sqlite_path)
        reaped = reap_abandoned(self.results, self.abandon_after_s, by=self.run_id)
        self._thread = threading.Thread(target=self._beat, name="wtb-heartbeat", daemon=True)
        self._thread.start()
        return reaped

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.results.heartbeat(self.run_id)
            except StoreError:
                self.beat_errors += 1  # the run's own writes report the outage

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)  # a beat stuck on a dead store must not hold up exit
            self._thread = None
        self.lost = self._file_lost()

    def _file_lost(self) -> str | None:
        """A SQLite file deleted (or replaced) mid-run takes every write into the unlinked file without an
        error: only its inode tells, so compare it with the one the run opened."""
        path = self.results.url.sqlite_path
        if self._file_id is None or path is None or _file_id(path) == self._file_id:
            return None
        what = "deleted" if not path.exists() else "replaced by another file"
        return (
            f"pytest-wtb: the SQLite store {path} was {what} while this run was going: its results and "
            "checkpoints could not be saved (they went into the deleted file); `show`, `replay` and "
            "--wtb-against will not find this run"
        )


def _file_id(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


@dataclass(frozen=True)
class PruneReport:
    runs: tuple[str, ...]
    executions: int
    threads: int  # checkpoint threads deleted
    dry_run: bool


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def prune(
    store: Store,
    keep_days: float,
    dry_run: bool = False,
    now: float | None = None,
    abandon_after_s: float = ABANDON_AFTER_S,
    keep: Collection[str] = (),
) -> PruneReport:
    """Delete runs that started more than ``keep_days`` ago and are not running (nor in ``keep``),
    with everything they left: executions, parity outcomes, dead letters, outbox events, checkpoints."""
    if keep_days < 0:
        raise StoreError(f"keep days must be >= 0, got {keep_days:g}")
    results = store.results
    now = time.time() if now is None else now
    if not dry_run:
        reap_abandoned(results, abandon_after_s, by="prune", now=now)
    runs_c, ex = schema.runs.c, schema.executions.c
    cutoff = now - keep_days * SECONDS_PER_DAY
    named = set(names_of(results))  # a named baseline stays until it is blessed away
    with results.read() as conn:
        run_ids = [r[0] for r in conn.execute(
            select(runs_c.run_id).where(runs_c.started_at < cutoff, runs_c.status != RUNNING)
            .order_by(runs_c.started_at)
        ).all() if r[0] not in keep and r[0] not in named]
        threads: list[str] = []
        for chunk in _chunks(run_ids):
            threads += [r[0] for r in conn.execute(select(ex.thread_id).where(ex.run_id.in_(chunk))).all()]
    if dry_run or not run_ids:
        return PruneReport(tuple(run_ids), len(threads), 0 if dry_run else len(threads), dry_run)
    deleted = store.checkpoints.delete_threads(threads)
    tables = (schema.parity_outcomes, schema.dead_letters, schema.outbox, schema.executions, schema.runs)
    for chunk in _chunks(run_ids):
        with results.write() as conn:
            for table in tables:
                conn.execute(delete(table).where(table.c.run_id.in_(chunk)))
    return PruneReport(tuple(run_ids), len(threads), deleted, dry_run)

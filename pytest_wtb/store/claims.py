"""Runs that several pytest commands share: joining one, and claims where a stale result is run again.

A run id names where results go, and more than one pytest command may write into one run: xdist
workers, CI shards, or a rerun under a leftover ``WTB_RUN_ID``. A stored result is reused only if it
finished and was recorded from the same code and inputs (``code_hash``, see plan/fingerprint.py).
One recorded from other code, or one that never finished (abandoned by a dead process, cancelled by
Ctrl-C), is claimed again: its row is reset and the claimer clears its old checkpoints and runs it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pytest_wtb.model import RUNNING, ExecutionSpec
from pytest_wtb.store import schema
from pytest_wtb.store.owners import owner_invocation
from pytest_wtb.store.results import CLAIM_ROWS, ResultStore
from pytest_wtb.store.rows import ABANDONED, claim_row, outbox_row

CANCELLED: Final = "Cancelled"  # error_type of an execution its run stopped before it finished
_ex = schema.executions.c
# what a reclaimed row forgets of the result it held
_RESET: Final[dict[str, Any]] = dict(
    attempts=0, worker=None, ended_at=None, duration_s=None, error_type=None, error_message=None,
    error_node=None, error_traceback=None, checkpoint_id=None, state_type=None, state_blob=None, nodes_json=None,
    extra_type=None, extra_blob=None,
)


def join_run(results: ResultStore, run_id: str, backend: str, owner: str, **info: Any) -> dict[str, Any] | None:
    """Record the run and its first heartbeat, or join it: None for a new run, else the run's row as it
    was before. A process of another pytest command (its ``owner`` ends in another ``@invocation``;
    xdist workers share theirs) takes the run over: it owns it now, and an ended run runs again."""
    now = time.time()
    values = dict(run_id=run_id, started_at=now, heartbeat_at=now, status=RUNNING, backend=backend, owner=owner,
                  **info)
    runs = schema.runs.c
    with results.write() as conn:
        if results._inserted(conn, schema.runs, values):
            results.outbox_event(conn, "run.started", run_id, backend=backend, host=info.get("host"))
            return None
        row = conn.execute(select(schema.runs).where(runs.run_id == run_id)).first()
        before = dict(row._mapping) if row is not None else None
        rejoin: dict[str, Any] = {"heartbeat_at": now}
        if before is not None and owner_invocation(before["owner"]) != owner_invocation(owner):
            rejoin.update(owner=owner, status=RUNNING, ended_at=None)
            results.outbox_event(conn, "run.rejoined", run_id, owner=owner, was=before["status"])
        conn.execute(update(schema.runs).where(runs.run_id == run_id).values(**rejoin))
    return before


@dataclass(frozen=True)
class Claimed:
    won: set[str] = field(default_factory=set)  # this process runs these
    replaced: dict[str, str] = field(default_factory=dict)  # of those: key -> stored status it replaces
    others: dict[str, str] = field(default_factory=dict)  # key -> owner of a row another process holds


def claim_for_run(
    results: ResultStore, specs: Sequence[ExecutionSpec], owner: str, backend: str, code_hashes: Mapping[str, str]
) -> Claimed:
    """Claim ``specs`` in one transaction: new rows are inserted; a row another process holds is
    left to it unless it is stale (ended, and from other code or unfinished), then it is reclaimed."""
    claimed = Claimed()
    if not specs:
        return claimed
    dialect: Any = postgresql if results.url.kind == "postgresql" else sqlite
    now = time.time()
    with results.write() as conn:
        for start in range(0, len(specs), CLAIM_ROWS):
            chunk = specs[start : start + CLAIM_ROWS]
            rows = [_row(s, owner, backend, now, code_hashes) for s in chunk]
            # executemany of one cached statement (see ResultStore.claim_many)
            stmt = dialect.insert(schema.executions).on_conflict_do_nothing().returning(_ex.exec_key)
            inserted = {r[0] for r in conn.execute(stmt, rows)}
            claimed.won.update(inserted)
            lost = [s for s in chunk if s.key not in inserted]
            if lost:
                _reclaim_stale(conn, lost, owner, backend, now, code_hashes, claimed)
        results.outbox_events(conn, [
            outbox_row("execution.replaced" if s.key in claimed.replaced else "execution.claimed", s.run_id,
                       exec_key=s.key, thread_id=s.thread_id, owner=owner, variant=s.variant_name,
                       case_id=s.case_id, was=claimed.replaced.get(s.key))
            for s in specs if s.key in claimed.won
        ])
    return claimed


def _reclaim_stale(
    conn: Connection,
    lost: list[ExecutionSpec],
    owner: str,
    backend: str,
    now: float,
    code_hashes: Mapping[str, str],
    claimed: Claimed,
) -> None:
    run_id = lost[0].run_id
    held = {
        r.exec_key: r
        for r in conn.execute(
            select(_ex.exec_key, _ex.status, _ex.code_hash, _ex.owner)
            .where(_ex.run_id == run_id, _ex.exec_key.in_([s.key for s in lost]))
        )
    }
    for spec in lost:
        row = held.get(spec.key)
        if row is None:
            continue  # released by its claimer this instant: the waiter finds it gone and says so
        new_hash = code_hashes.get(spec.key)
        changed = new_hash is not None and row.code_hash != new_hash
        stale = row.status != RUNNING and (row.status == ABANDONED or changed)
        if not stale:
            claimed.others[spec.key] = row.owner or ""
            continue
        # the guards make the first of several processes reclaiming one row its only winner
        same_hash = _ex.code_hash.is_(None) if row.code_hash is None else _ex.code_hash == row.code_hash
        values = {k: v for k, v in _row(spec, owner, backend, now, code_hashes).items()
                  if k not in ("run_id", "exec_key", "thread_id")}
        won = conn.execute(
            update(schema.executions)
            .where(_ex.run_id == run_id, _ex.exec_key == spec.key, _ex.status == row.status, same_hash)
            .values({**values, **_RESET})
            .returning(_ex.exec_key)
        ).first()
        if won is not None:
            claimed.won.add(spec.key)
            claimed.replaced[spec.key] = row.status
        else:
            claimed.others[spec.key] = ""


def _row(spec: ExecutionSpec, owner: str, backend: str, now: float, code_hashes: Mapping[str, str]) -> dict[str, Any]:
    return {**claim_row(spec, owner, backend, now), "code_hash": code_hashes.get(spec.key)}


def cancel_unfinished(results: ResultStore, run_id: str, keys: Sequence[str], owner: str, message: str) -> list[str]:
    """Executions this process started and the run stopped before they finished (Ctrl-C, -x): marked
    abandoned with why, so no ended run holds a `running` execution. Returns their thread_ids."""
    if not keys:
        return []
    now = time.time()
    with results.write() as conn:
        done = conn.execute(
            update(schema.executions)
            .where(_ex.run_id == run_id, _ex.exec_key.in_(list(keys)), _ex.owner == owner, _ex.status == RUNNING)
            .values(status=ABANDONED, ended_at=now, error_type=CANCELLED, error_message=message)
            .returning(_ex.exec_key, _ex.thread_id)
        ).all()
        results.outbox_events(conn, [
            outbox_row("execution.cancelled", run_id, exec_key=key, thread_id=thread_id, owner=owner)
            for key, thread_id in done
        ])
    return [thread_id for _, thread_id in done]

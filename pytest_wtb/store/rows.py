"""Rows of the result tables as plain dicts, and back: what a result, a claim and an event are stored as.

Reading a row back decodes its final state through the store's strict serializer (store/serde.py):
a refused type makes that result a failure that says why, and nothing stored is revived.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from dataclasses import asdict
from typing import Any, Final

from pytest_wtb.model import FAILED, FINAL_STATUSES, LOST, RUNNING, ErrorInfo, ExecutionResult, ExecutionSpec, NodeRun
from pytest_wtb.plan.executions import canonical_input
from pytest_wtb.store.serde import StoredDataRefused
from pytest_wtb.store.urls import mask

ABANDONED: Final = "abandoned"  # a stored status only: the run that owned the execution died


def result_row(serde: Any, run_id: str, result: ExecutionResult, now: float) -> dict[str, Any]:
    state_type, state_blob = (None, None)
    if result.state is not None:
        state_type, state_blob = serde.dumps_typed(result.state)
    extra_type, extra_blob = (None, None)
    extra = {**result.extra, **({"pending_nodes": list(result.pending_nodes)} if result.pending_nodes else {})}
    if extra:
        extra_type, extra_blob = serde.dumps_typed(extra)
    err = result.error
    return dict(
        b_run_id=run_id,
        b_exec_key=result.key,
        status=result.status,
        attempts=result.attempts,
        backend=result.backend,
        worker=result.worker,
        started_at=result.started_at or None,
        ended_at=now,
        duration_s=result.duration_s,
        error_type=err.type if err else None,
        error_message=mask(err.message) if err else None,
        error_node=err.node if err else None,
        error_traceback=mask(err.traceback) if err else None,
        checkpoint_id=result.checkpoint_id,
        state_type=state_type,
        state_blob=state_blob,
        nodes_json=json.dumps([asdict(n) for n in result.nodes]),
        extra_type=extra_type,
        extra_blob=extra_blob,
    )


def load_state(serde: Any, row: dict[str, Any]) -> dict[str, Any] | None:
    if row["state_blob"] is None:
        return None
    try:
        state: dict[str, Any] = serde.loads_typed((row["state_type"], bytes(row["state_blob"])))
    except StoredDataRefused as exc:
        raise StoredDataRefused(f"the stored final state of thread_id {row['thread_id']}: {exc}") from None
    return state

def result_from_row(serde: Any, row: dict[str, Any]) -> ExecutionResult | None:
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
    extra: dict[str, Any] = {}
    try:
        state = load_state(serde, row)
        if row.get("extra_blob") is not None:
            extra = serde.loads_typed((row["extra_type"], bytes(row["extra_blob"])))
    except StoredDataRefused as exc:  # its items fail saying why; nothing stored was revived
        status, state, err = FAILED, None, ErrorInfo(type="StoredDataRefused", message=str(exc))
    pending = tuple(extra.pop("pending_nodes", ()) or ())
    return ExecutionResult(
        key=row["exec_key"],
        thread_id=row["thread_id"],
        variant=row["variant"],
        case_id=row["case_id"],
        status=status,
        state=state,
        checkpoint_id=row["checkpoint_id"],
        error=err,
        started_at=row["started_at"] or 0.0,
        duration_s=row["duration_s"] or 0.0,
        attempts=row["attempts"] or 1,
        backend=row["backend"] or "",
        worker=row["worker"] or "",
        nodes=nodes,
        pending_nodes=pending,
        extra=extra,
    )


def outbox_row(event_type: str, run_id: str, **fields: Any) -> dict[str, Any]:
    exec_key, thread_id = fields.pop("exec_key", None), fields.pop("thread_id", None)
    return dict(
        event_id=uuid.uuid4().hex,
        run_id=run_id,
        exec_key=exec_key,
        thread_id=thread_id,
        event_type=event_type,
        payload_json=json.dumps(fields, default=str),
        created_at=time.time(),
        processed_at=None,
    )


def claim_row(spec: ExecutionSpec, owner: str, backend: str, now: float) -> dict[str, Any]:
    return dict(
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
        started_at=now,
        module_path=module_file(spec.scope),
    )


def input_hash(value: Any) -> str:
    """What wtb_executions.input_hash holds: tells whether a case's input changed between runs."""
    return hashlib.sha256(canonical_input(value).encode()).hexdigest()


def module_file(scope: str) -> str | None:
    """The file of the test module that declares the variants, so `replay` can import it again."""
    path = getattr(sys.modules.get(scope), "__file__", None)
    return str(path) if path else None

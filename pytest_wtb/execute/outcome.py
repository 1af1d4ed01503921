"""What an execution's end says beyond its state: the interrupts it waits on, its output view, the
resumes it used, and (for a shared prefix) the store items its forks start from. Plain data, stored
with the result."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pytest_wtb.declare.run_settings import context_fields
from pytest_wtb.execute.stores import store_items
from pytest_wtb.model import ErrorInfo, ExecutionSpec

if TYPE_CHECKING:
    from pytest_wtb.execute.worker import Attempt

STOP: Any = object()  # Attempt.next_resume: nothing to continue the thread with


def pending_interrupts(snapshot: Any) -> list[dict[str, Any]]:
    """What the paused graph waits on: per interrupt() call, its node and value; per
    interrupt_before/after pause with no interrupt() value, the node alone."""
    found: list[dict[str, Any]] = []
    for task in getattr(snapshot, "tasks", ()) or ():
        for intr in getattr(task, "interrupts", ()) or ():
            found.append({"node": task.name, "value": intr.value, "id": str(getattr(intr, "id", ""))})
    if not found:
        found = [{"node": node, "value": None, "id": "", "before": True} for node in snapshot.next or ()]
    return found


def outcome_extra(attempt: Attempt, snapshot: Any) -> dict[str, Any]:
    graph, spec = attempt.graph, attempt.spec
    extra: dict[str, Any] = {}
    output = getattr(graph, "output_channels", None)
    if isinstance(output, str | list | tuple):
        extra["output_keys"] = output if isinstance(output, str) else list(output)
    if spec.resume:
        extra["resumes"] = attempt.resumes_used
    ran_with = {k: repr(v)[:300] for k, v in (("context", attempt.context), ("config", spec.config)) if v}
    if ran_with or spec.resume:  # for `show` and reports: display text, never revived
        extra["ran_with"] = ran_with
        replay_with = _plain({"context": context_fields(attempt.context), "config": spec.config,
                              "resume": list(spec.resume)})
        if replay_with is not None:  # what `replay` runs the execution with again
            extra["replay_with"] = replay_with
    if spec.is_prefix:
        if graph.store is not None:
            extra["store_items"] = store_items(graph.store)
    elif snapshot.next:
        extra["interrupts"] = pending_interrupts(snapshot)
    return extra


def _plain(value: Any) -> Any:
    """``value`` when it is JSON data (so any store can keep it and nothing needs reviving), else None."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


def unused_resume_error(spec: ExecutionSpec, used: int) -> ErrorInfo:
    left = list(spec.resume[used:])
    if used == 0:
        why = "but the graph never paused (no interrupt() was reached, no interrupt_before/after node ran)"
    else:
        why = f"but the graph paused only {used} time{'s' if used != 1 else ''} and then ran to its end"
    message = (
        f"case '{spec.case_id}' scripts {len(spec.resume)} resume value{'s' if len(spec.resume) != 1 else ''} "
        f"{why}; unused: {left!r}. Remove them from wtb.case(..., resume=[...]), or check that the graph "
        "still asks for them"
    )
    return ErrorInfo(type="UnusedResume", message=message)

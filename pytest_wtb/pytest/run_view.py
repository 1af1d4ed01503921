"""What a test sees through the ``wtb_run`` fixture: one execution's outcome as a read-only view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_wtb.model import ExecutionResult


@dataclass(frozen=True)
class WtbRun:
    """What a test sees through the ``wtb_run`` fixture: one execution's outcome."""

    variant: str
    case_id: str
    input: Any = field(repr=False)
    state: dict[str, Any] | None = field(repr=False)
    error: Any
    thread_id: str
    checkpoint_id: str | None = field(repr=False)
    duration_s: float = field(repr=False)
    backend: str = field(repr=False)
    status: str
    result: ExecutionResult = field(repr=False)
    baseline: WtbRun | None = field(default=None, repr=False)


def as_run(result: ExecutionResult, case_input: Any, baseline: WtbRun | None = None) -> WtbRun:
    return WtbRun(
        variant=result.variant,
        case_id=result.case_id,
        input=case_input,
        state=result.state,
        error=result.error,
        thread_id=result.thread_id,
        checkpoint_id=result.checkpoint_id,
        duration_s=result.duration_s,
        backend=result.backend,
        status=result.status,
        result=result,
        baseline=baseline,
    )

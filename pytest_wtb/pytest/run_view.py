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
    context: Any = field(default=None, repr=False)  # LangGraph runtime context it ran with
    config: dict[str, Any] = field(default_factory=dict, repr=False)  # RunnableConfig values it ran with
    repetition: int = 0  # @wtb.repeat: which of the (variant, case)'s executions this is

    @property
    def interrupts(self) -> list[Any]:
        """The values the graph passed to interrupt() and still waits on (empty unless interrupted)."""
        return self.result.interrupts

    @property
    def output(self) -> Any:
        """The graph's output view (its output_schema) of the final state; ``state`` is the full state."""
        return self.result.output


def as_run(result: ExecutionResult, case_input: Any, baseline: WtbRun | None = None, context: Any = None,
           config: dict[str, Any] | None = None, repetition: int = 0) -> WtbRun:
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
        context=context,
        config=dict(config or {}),
        repetition=repetition,
    )

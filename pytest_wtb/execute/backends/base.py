"""The backend interface: start, submit specs with a completion callback, close without blocking."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_wtb.model import TIMED_OUT, ErrorInfo, ExecutionResult, ExecutionSpec

if TYPE_CHECKING:
    from pytest_wtb.store.checkpoints import CheckpointerSource
    from pytest_wtb.store.urls import StoreURL

DoneCallback = Callable[[ExecutionResult], None]


@dataclass(frozen=True)
class BackendContext:
    """What a backend needs from the run: where checkpoints go and the per-execution limits."""

    run_id: str
    store_url: StoreURL
    checkpointers: CheckpointerSource
    timeout_s: float | None = None
    retries: int = 2
    options: dict[str, Any] = field(default_factory=dict)
    # prefix sharing: a probe prefix whose nodes took less than this makes the group run unshared
    share_prefix_min_s: float = 0.0
    concurrency: int = 64  # --wtb-concurrency: async executions in flight at once
    async_specs: int = 0  # how many of the batch's executions run through LangGraph's async API


class Backend(ABC):
    """Runs ExecutionSpecs and reports each ExecutionResult exactly once through its callback.

    ``submit`` must not block for long; ``done`` may be called from any thread. ``close`` must
    return promptly even when an execution is stuck: pytest's exit never waits for user code.
    """

    name: ClassVar[str] = ""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many executions the driver keeps in flight at once."""

    @abstractmethod
    def start(self, context: BackendContext) -> None: ...

    @abstractmethod
    def submit(self, spec: ExecutionSpec, done: DoneCallback) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


def timeout_result(
    spec: ExecutionSpec, backend: str, started_at: float, nodes: list[str], worker: str = ""
) -> ExecutionResult:
    elapsed = time.time() - started_at
    where = f"; it was still running node '{', '.join(nodes)}'" if nodes else ""
    message = f"execution timed out after {elapsed:.1f}s (--wtb-timeout={spec.timeout_s:g}){where}"
    return ExecutionResult.of(
        spec,
        TIMED_OUT,
        error=ErrorInfo(type="Timeout", message=message, node=", ".join(nodes) or None),
        started_at=started_at,
        duration_s=elapsed,
        backend=backend,
        worker=worker,
    )

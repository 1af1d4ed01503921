"""--wtb-compare-backends=A,B: every execution also runs on backend B; items fail where results differ.

This is how a team proves that moving CI from threads to Ray (or to their own backend) changes
nothing: same statuses, same error kinds, same final states. B's executions are recorded as a
run of their own (``<run>-<B>``) so both sets of checkpoints stay inspectable side by side.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pytest_wtb.declare.variants import ParitySpec
from pytest_wtb.execute.backends.base import Backend, BackendContext
from pytest_wtb.execute.batch import Batch
from pytest_wtb.model import ExecutionResult
from pytest_wtb.plan.executions import Plan
from pytest_wtb.report.failures import show_hint
from pytest_wtb.verdict.compare import compare

if TYPE_CHECKING:
    from pytest_wtb.store import Store

MAX_PATHS = 20


def _kind(result: ExecutionResult) -> str:
    return result.status + (f" ({result.error.type})" if result.error else "")


def difference_text(a: ExecutionResult, b: ExecutionResult, store_display: str | None) -> str | None:
    """None when both backends agree on status, error kind and final state; else what differs."""
    lines: list[str] = []
    if (a.status, a.error.type if a.error else None) != (b.status, b.error.type if b.error else None):
        lines.append(f"  outcome: {a.backend} {_kind(a)}, {b.backend} {_kind(b)}")
    elif a.ok:
        diffs = compare(a.state or {}, b.state or {}, ParitySpec())
        for d in diffs[:MAX_PATHS]:
            lines.append(f"  {d.path}\n    {a.backend + ':':<9} {d.baseline!r}\n    {b.backend + ':':<9} {d.other!r}")
        if len(diffs) > MAX_PATHS:
            lines.append(f"  ... and {len(diffs) - MAX_PATHS} more key paths")
    if not lines:
        return None
    head = f"backend parity: {a.backend} and {b.backend} differ on variant '{a.variant}' case '{a.case_id}'"
    where = [
        f"  {r.backend + ':':<9} thread_id={r.thread_id} checkpoint_id={r.checkpoint_id or '-'}" for r in (a, b)
    ]
    return "\n".join([head, *lines, *where, f"  {show_hint(b.thread_id, store_display)}"])


class BackendComparison:
    """The second batch of a compared run, and the check items run against it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.batch: Batch | None = None

    def start(self, plan: Plan, run_id: str, context: BackendContext, store: Store, owner: str) -> None:
        other_run = f"{run_id}-{self.backend.name}"[:64]
        store.results.start_run(other_run, self.backend.name)
        # the same executions under the other run's thread_ids (prefix forks re-point with them)
        renamed = {s.key: s.thread_id.replace(f"wtb-{run_id}-", f"wtb-{other_run}-", 1) for s in plan.specs}
        twin = Plan(
            tuple(
                dataclasses.replace(
                    s,
                    run_id=other_run,
                    thread_id=renamed[s.key],
                    fork_thread_id=renamed.get(s.fork_from) if s.fork_from else None,
                )
                for s in plan.specs
            )
        )
        ctx = BackendContext(other_run, context.store_url, context.checkpointers, context.timeout_s, context.retries)
        self.batch = Batch(twin, self.backend, ctx, store.results, owner)
        self.batch.start()

    def check(self, result: ExecutionResult, store_display: str | None) -> str | None:
        if self.batch is None or result.key not in self.batch.specs:
            return None
        return difference_text(result, self.batch.wait(result.key), store_display)

    def stop(self) -> None:
        if self.batch is not None:
            self.batch.stop()

"""--wtb-compare-backends=A,B: every execution also runs on backend B; items fail where results differ.

This is how a team proves that moving CI from threads to Ray (or to their own backend) changes
nothing: same statuses, same error kinds, same final states. B's executions are recorded as a
run of their own (``<run>-<B>``) so both sets of checkpoints stay inspectable side by side; that run
names its parent (``parent_run``), ends with it, and is never ``last``. The terminal summary says
how many executions were compared and how many differed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import WtbError
from pytest_wtb.execute.backends.base import Backend, BackendContext
from pytest_wtb.execute.batch import Batch
from pytest_wtb.execute.tape import register_snapshot, snapshot_for
from pytest_wtb.model import ExecutionResult
from pytest_wtb.plan.executions import Plan
from pytest_wtb.pytest.trajectories import TrajectoryUnreadable, divergence
from pytest_wtb.report.failures import parted_at, show_hint, trajectory_lines
from pytest_wtb.verdict.compare import compare

if TYPE_CHECKING:
    from pytest_wtb.store import Store

MAX_PATHS = 20


def _kind(result: ExecutionResult) -> str:
    return result.status + (f" ({result.error.type})" if result.error else "")


def difference_text(
    a: ExecutionResult, b: ExecutionResult, store_display: str | None, parted: Sequence[str] = ()
) -> str | None:
    """None when both backends agree on status, error kind and final state (and ``parted``, where
    their trajectories part, is empty); else what differs."""
    lines: list[str] = []
    if (a.status, a.error.type if a.error else None) != (b.status, b.error.type if b.error else None):
        lines.append(f"  outcome: {a.backend} {_kind(a)}, {b.backend} {_kind(b)}")
    elif a.ok:
        diffs = compare(a.state or {}, b.state or {}, ParitySpec())
        for d in diffs[:MAX_PATHS]:
            lines.append(f"  {d.path}\n    {a.backend + ':':<9} {d.baseline!r}\n    {b.backend + ':':<9} {d.other!r}")
        if len(diffs) > MAX_PATHS:
            lines.append(f"  ... and {len(diffs) - MAX_PATHS} more key paths")
        lines += parted
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
        self.store: Store | None = None
        self.run_id = ""  # the second leg's run
        self.first = ""  # the first backend's name
        self.compared: set[str] = set()  # execution keys checked on both backends
        self.differed: set[str] = set()

    def start(
        self,
        plan: Plan,
        run_id: str,
        context: BackendContext,
        store: Store,
        owner: str,
        code_hashes: Mapping[str, str] | None = None,
    ) -> None:
        from pytest_wtb.store.claims import join_run

        other_run = f"{run_id}-{self.backend.name}"[:64]
        self.store, self.run_id = store, other_run
        join_run(store.results, other_run, self.backend.name, owner, parent_run=run_id)  # ended with ours
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
        recordings = snapshot_for(run_id)
        if recordings is not None:  # the second leg replays what the first does: the store as the run began
            register_snapshot(other_run, recordings)
        ctx = BackendContext(other_run, context.store_url, context.checkpointers, context.timeout_s, context.retries)
        self.batch = Batch(twin, self.backend, ctx, store.results, owner, code_hashes=code_hashes)
        self.batch.start()

    def check(self, result: ExecutionResult, store_display: str | None, spec: ParitySpec | None = None) -> str | None:
        """What differs between the two backends' runs of ``result``'s execution; with ``spec``'s
        trajectory mode (the item's @wtb.parity) their trajectories are judged too."""
        if self.batch is None or result.key not in self.batch.specs:
            return None
        self.first = result.backend or self.first
        other = self.batch.wait(result.key)
        parted = self._trajectory(result, other, spec.trajectory if spec else None, store_display)
        differs = difference_text(result, other, store_display, parted)
        self.compared.add(result.key)
        if differs:
            self.differed.add(result.key)
        return differs

    def _trajectory(self, a: ExecutionResult, b: ExecutionResult, mode: str | None,
                    store_display: str | None) -> list[str]:
        if mode is None or self.store is None or not (a.ok and b.ok):
            return []
        try:
            found = divergence(self.store.checkpoints, a.thread_id, b.thread_id, mode)
        except TrajectoryUnreadable as exc:
            return [f"  {exc}"]
        if found is None:
            return []
        return [f"  trajectory=\"{mode}\": they part at step {parted_at(found)}",
                *trajectory_lines(found, (a.backend, b.backend), (a.thread_id, b.thread_id), store_display)]

    def stop(self, why: str = "the run ended before this execution finished", status: str = "passed") -> None:
        """Stop the second leg and end its run with the first's status, or 'failed' where they differ."""
        if self.batch is None or self.store is None:
            return
        self.batch.stop(why)
        if self.differed and status == "passed":
            status = "failed"
        try:
            self.store.results.end_run(self.run_id, status)
        except WtbError:
            pass  # the first leg's end reports the store error

    def summary_lines(self) -> list[str]:
        if self.batch is None:
            return []
        pair = f"{self.first or 'the first backend'} and {self.backend.name}"
        return [
            f"pytest-wtb: backend comparison ({pair}): {len(self.compared)} execution(s) compared, "
            f"{len(self.differed)} differed; {self.backend.name}'s executions are in run {self.run_id}"
        ]

"""One run's batch: dispatch specs to a backend, record results, let items wait for their own.

Each execution is claimed in the store before it is submitted. In a plain run every claim
succeeds; under pytest-xdist all workers plan the same executions and race for the claims, so
each execution runs once per run, on whichever worker got it, and the others read its result row.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import socket
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from pytest_wtb.backends.base import Backend, BackendContext
from pytest_wtb.errors import StoreError
from pytest_wtb.model import FAILED, LOST, ErrorInfo, ExecutionResult, ExecutionSpec
from pytest_wtb.plan import Plan

if TYPE_CHECKING:
    from pytest_wtb.store.results import ResultStore

REMOTE_POLL_S = 0.05
REMOTE_GRACE_S = 60.0


def owner_label(worker_id: str = "main") -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{worker_id}"


def owner_is_dead(owner: str | None) -> bool:
    """True only when we can see the owner is gone: a process on this host that no longer exists."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Batch:
    def __init__(
        self, plan: Plan, backend: Backend, context: BackendContext, results: ResultStore, owner: str
    ) -> None:
        self.plan = plan
        self.backend = backend
        self.context = context
        self.results = results
        self.owner = owner
        self.specs = {s.key: s for s in plan.specs}
        # None as a future's value means "another process owns it: read the store"
        self._futures: dict[str, Future[ExecutionResult | None]] = {s.key: Future() for s in plan.specs}
        self._slots = threading.Semaphore(1)  # resized in start(): a backend knows its capacity once started
        self._slotted: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.local_count = 0
        self.remote_count = 0
        self.nodes_saved = 0  # node executions prefix sharing did not repeat
        self.prefix_fallbacks: list[str] = []
        # forks become ready when their shared prefix execution has a result
        self._ready: queue.SimpleQueue[ExecutionSpec] = queue.SimpleQueue()
        self._forks: dict[str, list[ExecutionSpec]] = {}
        for spec in plan.specs:
            if spec.fork_from is None:
                self._ready.put(spec)
            else:
                self._forks.setdefault(spec.fork_from, []).append(spec)

    def start(self) -> None:
        """Start the backend (may raise: the caller turns that into a usage error) and dispatch."""
        self.backend.start(self.context)
        self._slots = threading.Semaphore(max(1, self.backend.capacity))
        threading.Thread(target=self._dispatch, name="wtb-dispatch", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self.backend.close()

    def _dispatch(self) -> None:
        for _ in range(len(self.plan.specs)):
            spec = self._ready.get()
            if self._stopping.is_set():
                self._resolve(spec, _internal_failure(spec, "the run stopped before this execution started"))
                continue
            self._slots.acquire()
            store_error = None
            try:
                claimed = self.results.claim(spec, self.owner, self.backend.name)
            except StoreError as exc:
                claimed, store_error = True, str(exc)
            if not claimed:
                self._slots.release()
                with self._lock:
                    self.remote_count += 1
                self._futures[spec.key].set_result(None)
                if spec.key in self._forks:
                    threading.Thread(target=self._await_remote_prefix, args=(spec,), daemon=True).start()
                continue
            self._submit(spec, slotted=True, store_error=store_error)

    def _submit(self, spec: ExecutionSpec, slotted: bool, store_error: str | None = None) -> None:
        with self._lock:
            self.local_count += 1
            if slotted:
                self._slotted.add(spec.key)

        def done(result: ExecutionResult) -> None:
            self._done(result, store_error)

        try:
            self.backend.submit(spec, done)
        except Exception as exc:
            self._done(_internal_failure(spec, f"backend {self.backend.name} refused it: {exc!r}"), None)

    def _done(self, result: ExecutionResult, store_error: str | None) -> None:
        if store_error is None:
            try:
                self.results.record(self.context.run_id, result)
                if result.status == LOST:
                    errors = [str(e) for e in result.extra.get("attempt_errors", [])]
                    self.results.record_dead_letter(self.context.run_id, result.key, result.thread_id, errors)
            except Exception as exc:  # the store went away: keep the result, say it was not saved
                store_error = str(exc)
        if store_error is not None:
            result = dataclasses.replace(result, store_error=store_error)
        with self._lock:
            slotted = result.key in self._slotted
            self._slotted.discard(result.key)
        if slotted:
            self._slots.release()
        self._resolve(self.specs[result.key], result)

    def _resolve(self, spec: ExecutionSpec, result: ExecutionResult) -> None:
        future = self._futures[spec.key]
        if not future.done():
            future.set_result(result)
        if spec.key in self._forks:
            self._release_forks(spec, result)

    def _await_remote_prefix(self, prefix: ExecutionSpec) -> None:
        self._release_forks(prefix, self._wait_remote(prefix))

    def _release_forks(self, prefix: ExecutionSpec, result: ExecutionResult) -> None:
        forks = self._forks.pop(prefix.key, [])
        if result.ok:
            with self._lock:
                self.nodes_saved += len(result.nodes) * max(0, len(forks) - 1)
            for fork in forks:
                self._ready.put(fork)
            return
        # never a wrong result: without a good shared checkpoint every variant runs from scratch
        with self._lock:
            self.prefix_fallbacks.append(f"{prefix.thread_id}: {result.status}")
        for fork in forks:
            full = dataclasses.replace(fork, fork_from=None, fork_thread_id=None)
            self.specs[fork.key] = full
            self._ready.put(full)

    def wait(self, key: str) -> ExecutionResult:
        """Block until the execution ``key`` has a result (ours, or another worker's via the store)."""
        result = self._futures[key].result()
        if result is None:
            result = self._wait_remote(self.specs[key])
        return _with_lineage(self.specs[key], result)

    def _wait_remote(self, spec: ExecutionSpec) -> ExecutionResult:
        # An owner that is alive but never records a result (its store writes failed) must not hang
        # us forever; with --wtb-timeout we know how long a result can legitimately take.
        limit = None
        if spec.timeout_s is not None:
            limit = time.monotonic() + spec.timeout_s * (self.context.retries + 1) + REMOTE_GRACE_S
        while True:
            if limit is not None and time.monotonic() > limit:
                return _internal_failure(
                    spec,
                    "another pytest-xdist worker claimed this execution but recorded no result in time "
                    "(its store writes may have failed: see that worker's failures)",
                )
            row = self.results.execution_row(spec.run_id, spec.key)
            if row is not None:
                result = self.results.result_from_row(row)
                if result is not None:
                    return result
                if owner_is_dead(row["owner"]) and self.results.take_over(
                    spec.run_id, spec.key, row["owner"], self.owner
                ):
                    self._futures[spec.key] = Future()
                    self._submit(spec, slotted=False)
                    return self.wait(spec.key)
            # Another process owns this execution; there is no cross-process event to wait on.
            time.sleep(REMOTE_POLL_S)


def _with_lineage(spec: ExecutionSpec, result: ExecutionResult) -> ExecutionResult:
    """Lineage comes from the plan, so every xdist worker states it alike, whoever ran the fork."""
    if spec.fork_thread_id is None or result.extra.get("forked_from") == spec.fork_thread_id:
        return result
    return dataclasses.replace(result, extra={**result.extra, "forked_from": spec.fork_thread_id})


def _internal_failure(spec: ExecutionSpec, message: str) -> ExecutionResult:
    return ExecutionResult(
        key=spec.key,
        thread_id=spec.thread_id,
        variant=spec.variant_name,
        case_id=spec.case_id,
        status=FAILED,
        error=ErrorInfo(type="NotRun", message=message),
    )

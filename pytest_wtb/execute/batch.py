"""One run's batch: dispatch specs to a backend, record results, let items wait for their own.

Each execution is claimed in the store before it is submitted. In a plain run every claim
succeeds; under pytest-xdist all workers plan the same executions and race for the claims, so
each execution runs once per run, on whichever worker got it, and the others read its result row.

Store writes are grouped: the dispatcher claims what is ready in one transaction, and one recorder
thread writes every result that finished meanwhile in one transaction. Per-execution transactions
cost more GIL time than a trivial workflow's execution itself. A result reaches its items only
after it is committed, so what an item reports is what the store holds.
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

from pytest_wtb.errors import StoreError
from pytest_wtb.execute.backends.base import Backend, BackendContext
from pytest_wtb.model import FAILED, LOST, ErrorInfo, ExecutionResult, ExecutionSpec
from pytest_wtb.plan.executions import Plan

if TYPE_CHECKING:
    from pytest_wtb.store.results import ResultStore

REMOTE_POLL_S = 0.05
REMOTE_GRACE_S = 60.0
CLAIM_CHUNK = 256  # the most executions one claim transaction takes in a plain run
RECORD_CHUNK = 256
FLUSH_TIMEOUT_S = 30.0  # how long stop() waits for the recorder to commit what already finished


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
        self,
        plan: Plan,
        backend: Backend,
        context: BackendContext,
        results: ResultStore,
        owner: str,
        shared: bool = False,
    ) -> None:
        """``shared``: other processes (xdist workers) claim from the same plan; claim only what
        can start soon, so no worker hoards executions the others could run."""
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
        self._claim_chunk = CLAIM_CHUNK
        self._unsubmitted: set[str] = set()  # claimed by us, not yet handed to the backend
        self._shared = shared
        # finished results waiting for the recorder; None asks it to stop
        self._finished: queue.SimpleQueue[tuple[ExecutionResult, str | None] | None] = queue.SimpleQueue()
        self._recorder = threading.Thread(target=self._record_loop, name="wtb-recorder", daemon=True)
        self.local_count = 0
        self.remote_count = 0
        # forks become ready when their shared prefix execution has a result
        self._ready: queue.SimpleQueue[ExecutionSpec] = queue.SimpleQueue()
        self._forks: dict[str, list[ExecutionSpec]] = {}
        # Forking pays only when the shared nodes cost more than a fork: the first prefix of each
        # group is a probe. The group's prefixes that fit the backend's capacity start with it (so
        # costly prefixes lose no time to probing; a cheap one wastes little by definition), the
        # rest wait for the probe's node timings.
        self._probes: dict[str, tuple[str, ...]] = {}  # probe prefix key -> its group
        self._held: dict[tuple[str, ...], list[ExecutionSpec]] = {}
        self._skipped: dict[str, float] = {}  # prefixes not worth running -> their probe's node seconds
        self.unshared: dict[str, str] = {}  # fork key -> why it ran from scratch instead
        probing = context.share_prefix_min_s > 0
        started: dict[tuple[str, ...], int] = {}
        for spec in plan.specs:
            if spec.fork_from is not None:
                self._forks.setdefault(spec.fork_from, []).append(spec)
                continue
            if probing and spec.is_prefix:
                group = (spec.scope, *spec.shared_by, "\x1f", *spec.interrupt_before)
                n = started[group] = started.get(group, 0) + 1
                if n == 1:
                    self._probes[spec.key] = group
                    self._held[group] = []
                elif n > max(1, backend.capacity):
                    self._held[group].append(spec)
                    continue
            self._ready.put(spec)

    def start(self) -> None:
        """Start the backend (may raise: the caller turns that into a usage error) and dispatch."""
        self.backend.start(self.context)
        capacity = max(1, self.backend.capacity)
        self._slots = threading.Semaphore(capacity)
        if self._shared:
            self._claim_chunk = max(1, capacity // 4)
        self._recorder.start()
        threading.Thread(target=self._dispatch, name="wtb-dispatch", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            never_started, self._unsubmitted = self._unsubmitted, set()
        self.backend.close()
        self._release(never_started)
        if self._recorder.is_alive():
            # results that already finished are written before the store closes, never dropped
            self._finished.put(None)
            self._recorder.join(FLUSH_TIMEOUT_S)

    def _release(self, keys: set[str]) -> None:
        """Claims made ahead that never ran (-x, Ctrl-C): the store keeps only what ran."""
        if not keys:
            return
        try:
            self.results.release_claims(self.context.run_id, sorted(keys), self.owner)
        except StoreError:
            pass  # the store is gone: its rows are reaped as abandoned later

    def _dispatch(self) -> None:
        remaining = len(self.plan.specs)
        while remaining:
            chunk = self._next_chunk()
            remaining -= len(chunk)
            stopping, to_run = self._stopping.is_set(), []
            for spec in chunk:
                if stopping or spec.key in self._skipped:
                    why = "the run stopped" if stopping else "prefix sharing did not pay for this group"
                    self._resolve(spec, _internal_failure(spec, f"{why}: not run"))
                else:
                    to_run.append(spec)
            claimed, store_error = self._claim(to_run)
            for spec in to_run:
                if spec.key not in claimed:
                    self._remote(spec)
                    continue
                self._slots.acquire()
                with self._lock:
                    stopped = self._stopping.is_set()
                    if not stopped:
                        self._unsubmitted.discard(spec.key)
                if stopped:  # stop() releases its claim
                    self._slots.release()
                    self._resolve(spec, _internal_failure(spec, "the run stopped before this execution started"))
                    continue
                self._submit(spec, slotted=True, store_error=store_error)

    def _next_chunk(self) -> list[ExecutionSpec]:
        """What is ready now, at least one spec (waits for it), at most one claim transaction's worth."""
        chunk = [self._ready.get()]
        while len(chunk) < self._claim_chunk:
            try:
                chunk.append(self._ready.get_nowait())
            except queue.Empty:
                break
        return chunk

    def _claim(self, chunk: list[ExecutionSpec]) -> tuple[set[str], str | None]:
        """The keys this process won, and the store error if claiming failed (then we run them all)."""
        if not chunk:
            return set(), None
        try:
            claimed = self.results.claim_many(chunk, self.owner, self.backend.name)
        except StoreError as exc:
            return {s.key for s in chunk}, str(exc)
        with self._lock:
            late = self._stopping.is_set()  # stop() ran during the claim: it cannot release these
            if not late:
                self._unsubmitted |= claimed
        if late:
            self._release(claimed)
        return claimed, None

    def _remote(self, spec: ExecutionSpec) -> None:
        with self._lock:
            self.remote_count += 1
        self._futures[spec.key].set_result(None)
        if spec.key in self._forks:
            threading.Thread(target=self._await_remote_prefix, args=(spec,), daemon=True).start()

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
        self._finished.put((result, store_error))

    def _record_loop(self) -> None:
        while True:
            first = self._finished.get()
            if first is None:
                return
            group = [first]
            while len(group) < RECORD_CHUNK:
                try:
                    item = self._finished.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._finished.put(None)  # stop after this group
                    break
                group.append(item)
            for result, store_error in self._record(group):
                self._finish(result, store_error)

    def _record(
        self, group: list[tuple[ExecutionResult, str | None]]
    ) -> list[tuple[ExecutionResult, str | None]]:
        to_write = [result for result, error in group if error is None]
        try:
            self.results.record_many(self.context.run_id, to_write)
        except Exception as exc:  # the store went away: keep the results, say they were not saved
            return [(result, error if error is not None else str(exc)) for result, error in group]
        out = []
        for result, store_error in group:
            if store_error is None and result.status == LOST:
                errors = [str(e) for e in result.extra.get("attempt_errors", [])]
                try:
                    self.results.record_dead_letter(self.context.run_id, result.key, result.thread_id, errors)
                except Exception as exc:
                    store_error = str(exc)
            out.append((result, store_error))
        return out

    def _finish(self, result: ExecutionResult, store_error: str | None) -> None:
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
        if prefix.key in self._probes:
            self._release_group(self._probes.pop(prefix.key), result)
        if result.ok:
            for fork in forks:
                self._ready.put(fork)
            return
        if prefix.key in self._skipped:
            took, limit = self._skipped[prefix.key] * 1000, self.context.share_prefix_min_s * 1000
            reason = (
                f"cheap: their shared nodes took {took:.2g} ms in a probe, under --wtb-share-prefix-min-ms={limit:g}"
            )
        else:
            # never a wrong result: without a good shared checkpoint every variant runs from scratch
            reason = f"fallback: shared prefix {prefix.thread_id} {result.status}"
        for fork in forks:
            full = dataclasses.replace(fork, fork_from=None, fork_thread_id=None)
            self.specs[fork.key] = full
            self.unshared[fork.key] = reason
            self._ready.put(full)

    def _release_group(self, group: tuple[str, ...], probe: ExecutionResult) -> None:
        """Run the group's other prefixes, or skip them when the probe's shared nodes were cheap.
        A failed probe decides nothing: its failure may belong to its case alone."""
        held = self._held.pop(group, [])
        shared_s = sum(n.duration_s for n in probe.nodes)
        if probe.ok and shared_s < self.context.share_prefix_min_s:
            self._skipped.update((p.key, shared_s) for p in held)
        for prefix in held:
            self._ready.put(prefix)

    def wait(self, key: str) -> ExecutionResult:
        """Block until the execution ``key`` has a result (ours, or another worker's via the store)."""
        result = self._futures[key].result()
        if result is None:
            result = self._wait_remote(self.specs[key])
        if key in self.unshared and "unshared" not in result.extra:
            result = dataclasses.replace(result, extra={**result.extra, "unshared": self.unshared[key]})
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
            try:
                row = self.results.execution_row(spec.run_id, spec.key)
                result = self.results.result_from_row(row) if row is not None else None
                taken = result is None and row is not None and owner_is_dead(row["owner"]) and (
                    self.results.take_over(spec.run_id, spec.key, row["owner"], self.owner)
                )
            except StoreError as exc:  # the store went away: the item fails, the summary names it unsaved
                failed = _internal_failure(spec, f"another pytest-xdist worker claimed this execution, but its result "
                                           f"could not be read from the store: {exc}")
                return dataclasses.replace(failed, store_error=str(exc))
            if result is not None:
                return result
            if taken:
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

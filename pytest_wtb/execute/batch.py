"""One run's batch: dispatch specs to a backend, record results, let items wait for their own.

Each execution is claimed in the store before it is submitted: under pytest-xdist all workers plan
the same executions and race for the claims, so each runs once, and the others read its result row.
Store writes are grouped (one claim transaction per chunk, one recorder thread: recorder.py); a
result reaches its items only once committed. Commands that share a run id (CI shards, reruns) pass
``code_hashes``: a stored result from other code, or unfinished, is run again (store/claims.py).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING

from pytest_wtb.errors import StoreError
from pytest_wtb.execute.backends.base import Backend, BackendContext
from pytest_wtb.execute.fork_gate import ForkGate, with_lineage
from pytest_wtb.execute.recorder import Recorder
from pytest_wtb.execute.remote import not_run, wait_remote
from pytest_wtb.model import ExecutionResult, ExecutionSpec
from pytest_wtb.plan.executions import Plan
from pytest_wtb.store.owners import owner_invocation, owner_label

if TYPE_CHECKING:
    from pytest_wtb.store.results import ResultStore

__all__ = ["Batch", "owner_label"]

REMOTE_POLL_S = 0.05
REMOTE_GRACE_S = 60.0
CLAIM_CHUNK = 256  # the most executions one claim transaction takes in a plain run
FLUSH_TIMEOUT_S = 30.0  # how long stop() waits for the recorder to commit what already finished


class Batch:
    def __init__(
        self,
        plan: Plan,
        backend: Backend,
        context: BackendContext,
        results: ResultStore,
        owner: str,
        shared: bool = False,
        code_hashes: Mapping[str, str] | None = None,
    ) -> None:
        """``shared``: other processes (xdist workers) claim from the same plan; claim only what can
        start soon, so no worker hoards executions the others could run."""
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
        self._code_hashes = code_hashes
        self._inflight: set[str] = set()  # handed to the backend by us, no result recorded yet
        self.replaced: dict[str, str] = {}  # stale stored results run again: key -> their stored status
        self.reused: dict[str, str] = {}  # results another pytest command holds: key -> its owner
        self.cancelled: list[str] = []  # thread_ids the run stopped before they finished
        self._unsafe: dict[str, str] = {}  # claimed, but must not run: key -> why
        self._recorder = Recorder(results, context.run_id, self._finish)
        self.local_count = 0
        self.remote_count = 0
        # forks become ready when their shared prefix execution has a result
        self._ready: queue.SimpleQueue[ExecutionSpec] = queue.SimpleQueue()
        self._gate = ForkGate(plan.specs, backend.capacity, context.share_prefix_min_s)
        self.unshared = self._gate.unshared  # fork key -> why it ran from scratch instead
        self._held = set(plan.held)  # run only once released (an adaptive gate's later rounds)
        self._to_dispatch = len(plan.specs) - len(self._held)
        for spec in self._gate.ready:
            if spec.key not in self._held:
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

    def stop(self, why: str = "the run ended before this execution finished", drain_s: float = 0.0) -> None:
        """``drain_s``: first stop starting executions and give those in flight that long to finish (an
        xdist worker that is done may hold one another worker waits for: cancelled, it would be lost)."""
        self._stopping.set()
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self._inflight:  # a set's truth is read whole under the GIL
            time.sleep(REMOTE_POLL_S)
        with self._lock:
            never_started, self._unsubmitted = self._unsubmitted, set()
        self.backend.close()
        self._release(never_started)
        # results that already finished are written before the store closes, never dropped
        self._recorder.stop(FLUSH_TIMEOUT_S)
        self._cancel_unfinished(why)

    def _cancel_unfinished(self, why: str) -> None:
        """What still runs (a Ctrl-C, -x) is recorded as such: an ended run holds no `running` rows."""
        from pytest_wtb.store.claims import cancel_unfinished

        with self._lock:
            keys, self._inflight = sorted(self._inflight), set()
        try:
            self.cancelled = cancel_unfinished(self.results, self.context.run_id, keys, self.owner, why)
        except StoreError:
            pass  # the store is gone: its rows are reaped as abandoned later
        for key in keys:
            self._resolve(self.specs[key], not_run(self.specs[key], why))

    def _release(self, keys: set[str]) -> None:
        """Claims made ahead that never ran (-x, Ctrl-C): the store keeps only what ran."""
        if not keys:
            return
        try:
            self.results.release_claims(self.context.run_id, sorted(keys), self.owner)
        except StoreError:
            pass  # the store is gone: its rows are reaped as abandoned later

    def _dispatch(self) -> None:
        try:
            self._dispatch_all()
        except Exception as exc:  # a bug here must fail the items, never leave them waiting forever
            for spec in list(self.specs.values()):
                self._resolve(spec, not_run(spec, f"pytest-wtb's dispatcher failed: {exc!r}"))
            raise

    def release(self, keys: list[str]) -> None:
        """Dispatch held executions; a key not held (already released, or never held) is left alone."""
        with self._lock:
            released = [k for k in keys if k in self._held]
            self._held.difference_update(released)
            self._to_dispatch += len(released)
        for key in released:
            self._ready.put(self.specs[key])

    def _more_to_dispatch(self) -> bool:  # while executions are held, one may be released at any time
        with self._lock:
            return self._to_dispatch > 0 or bool(self._held)

    def _dispatch_all(self) -> None:
        while self._more_to_dispatch():
            chunk = self._next_chunk()
            with self._lock:
                self._to_dispatch -= len(chunk)
            stopping, to_run = self._stopping.is_set(), []
            for spec in chunk:
                if stopping or spec.key in self._gate.skipped:
                    why = "the run stopped" if stopping else "prefix sharing did not pay for this group"
                    self._resolve(spec, not_run(spec, f"{why}: not run"))
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
                    self._resolve(spec, not_run(spec, "the run stopped before this execution started"))
                    continue
                self._submit(spec, slotted=True, store_error=store_error)

    def _next_chunk(self) -> list[ExecutionSpec]:  # ready now: at least one (waits), at most one claim's worth
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
            claimed = self._claim_chunk_rows(chunk)
        except StoreError as exc:
            return {s.key for s in chunk}, str(exc)
        with self._lock:
            late = self._stopping.is_set()  # stop() ran during the claim: it cannot release these
            if not late:
                self._unsubmitted |= claimed
        if late:
            self._release(claimed)
        return claimed, None

    def _claim_chunk_rows(self, chunk: list[ExecutionSpec]) -> set[str]:
        if self._code_hashes is None:
            return self.results.claim_many(chunk, self.owner, self.backend.name)
        from pytest_wtb.store.claims import claim_for_run

        claimed = claim_for_run(self.results, chunk, self.owner, self.backend.name, self._code_hashes)
        mine = owner_invocation(self.owner)
        with self._lock:
            self.replaced.update(claimed.replaced)
            self.reused.update((k, o) for k, o in claimed.others.items() if o and owner_invocation(o) != mine)
        if claimed.replaced:  # LangGraph would resume from the stale result's checkpoints
            try:
                self.context.checkpointers.delete_threads([self.specs[k].thread_id for k in claimed.replaced])
            except Exception as exc:  # never run on top of them: these fail, saying why
                why = f"its thread still holds checkpoints of an earlier result that could not be cleared: {exc}"
                self._unsafe.update(dict.fromkeys(claimed.replaced, why))
        return claimed.won

    def _remote(self, spec: ExecutionSpec) -> None:
        with self._lock:
            self.remote_count += 1
        self._futures[spec.key].set_result(None)
        if spec.key in self._gate.forks:
            threading.Thread(target=self._await_remote_prefix, args=(spec,), daemon=True).start()

    def _submit(self, spec: ExecutionSpec, slotted: bool, store_error: str | None = None) -> None:
        with self._lock:
            self.local_count += 1
            self._inflight.add(spec.key)
            if slotted:
                self._slotted.add(spec.key)

        def done(result: ExecutionResult) -> None:
            self._done(result, store_error)

        unsafe = self._unsafe.pop(spec.key, None)
        if unsafe is not None:
            done(not_run(spec, unsafe))
            return
        try:
            self.backend.submit(spec, done)
        except Exception as exc:
            self._done(not_run(spec, f"backend {self.backend.name} refused it: {exc!r}"), None)

    def _done(self, result: ExecutionResult, store_error: str | None) -> None:
        self._recorder.put(result, store_error)

    def _finish(self, result: ExecutionResult, store_error: str | None) -> None:
        if store_error is not None:
            result = dataclasses.replace(result, store_error=store_error)
        with self._lock:
            slotted = result.key in self._slotted
            self._slotted.discard(result.key)
            self._inflight.discard(result.key)
        if slotted:
            self._slots.release()
        self._resolve(self.specs[result.key], result)

    def _resolve(self, spec: ExecutionSpec, result: ExecutionResult) -> None:
        future = self._futures[spec.key]
        if not future.done():
            future.set_result(result)
        if spec.key in self._gate.forks:
            self._release_forks(spec, result)

    def _await_remote_prefix(self, prefix: ExecutionSpec) -> None:
        self._release_forks(prefix, self._wait_remote(prefix))

    def _release_forks(self, prefix: ExecutionSpec, result: ExecutionResult) -> None:
        for spec in self._gate.release(prefix, result):
            self.specs[spec.key] = spec  # a fork without a good prefix runs from scratch
            self._ready.put(spec)

    def wait(self, key: str) -> ExecutionResult:
        """Block until the execution ``key`` has a result (ours, or another worker's via the store)."""
        self.release([key])  # waiting for a held execution asks for it
        result = self._futures[key].result()
        if result is None:
            result = self._wait_remote(self.specs[key])
        if key in self.unshared and "unshared" not in result.extra:
            result = dataclasses.replace(result, extra={**result.extra, "unshared": self.unshared[key]})
        return with_lineage(self.specs[key], result)

    def _wait_remote(self, spec: ExecutionSpec) -> ExecutionResult:
        return wait_remote(self.results, spec, self.owner, self.context.retries, REMOTE_GRACE_S, REMOTE_POLL_S,
                           self._run_here)

    def _run_here(self, spec: ExecutionSpec) -> ExecutionResult:
        """Its owner died: this process runs it (the store row is ours now)."""
        self._futures[spec.key] = Future()
        self._submit(spec, slotted=False)
        return self.wait(spec.key)

"""Threads backend: a pool of daemon worker threads, each with its own checkpointer, and one event loop
for graphs with async nodes (up to --wtb-concurrency of them in flight, holding no thread while they
await: a worker thread only compiles them and hands them over).

Not concurrent.futures.ThreadPoolExecutor: its workers are joined at interpreter exit, so one node
stuck past --wtb-timeout would hang pytest's exit. Here a timed-out thread is abandoned (Python
cannot kill it), its execution is reported as timed out at once, and a fresh thread takes its place.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_wtb.execute.backends.base import Backend, BackendContext, DoneCallback, timeout_result
from pytest_wtb.execute.graphs import needs_async
from pytest_wtb.execute.worker import Attempt, Progress, begin, run_sync, worker_label
from pytest_wtb.model import FAILED, ErrorInfo, ExecutionResult, ExecutionSpec

if TYPE_CHECKING:  # aio imports LangGraph: a run without async graphs never loads it here
    from pytest_wtb.execute.aio import LoopRunner, ThreadedAsyncSaver
    from pytest_wtb.execute.write_behind import WriteBehindSqliteSaver

ASYNC_SAVERS = 2  # checkpoint threads for async executions on PostgreSQL (SQLite: one writer, write_behind.py)


@dataclass(eq=False)
class _Running:
    spec: ExecutionSpec
    done: DoneCallback
    thread: threading.Thread
    progress: Progress = field(default_factory=Progress)
    deadline: float | None = None
    finished: bool = False


class ThreadsBackend(Backend):
    name: ClassVar[str] = "threads"

    def __init__(self, workers: int = 16) -> None:
        self._workers = workers
        self._in_flight_async = 0  # capacity beyond the threads, for async executions (set in start)
        self._loop: LoopRunner | None = None
        self._async_saver: ThreadedAsyncSaver | WriteBehindSqliteSaver | None = None
        self._async_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[ExecutionSpec, DoneCallback] | None] = queue.SimpleQueue()
        self._running: dict[int, _Running] = {}
        self._cond = threading.Condition()
        self._ctx: BackendContext | None = None
        self._closed = False
        self._ids = itertools.count()
        self._threads: list[threading.Thread] = []
        self._abandoned: set[threading.Thread] = set()  # stuck past --wtb-timeout

    @property
    def capacity(self) -> int:
        return self._workers + self._in_flight_async

    def start(self, context: BackendContext) -> None:
        self._ctx = context
        if context.async_specs:
            self._in_flight_async = min(context.concurrency, context.async_specs)
        for _ in range(self._workers):
            self._spawn()
        if context.timeout_s is not None:
            threading.Thread(target=self._watchdog, name="wtb-watchdog", daemon=True).start()

    def submit(self, spec: ExecutionSpec, done: DoneCallback) -> None:
        self._queue.put((spec, done))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            stuck = {slot.thread for slot in self._running.values()} | self._abandoned
        for _ in range(self._workers):
            self._queue.put(None)
        if self._loop is not None:
            self._loop.close()
        if self._async_saver is not None:
            self._async_saver.close()
        # idle workers exit at once on the sentinel; give them a moment so their connections can be
        # closed, but never wait for a thread stuck in user code
        deadline = time.monotonic() + 1.0
        for thread in list(self._threads):
            if thread not in stuck and thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self) -> None:
        t = threading.Thread(target=self._work, name=f"wtb-worker-{next(self._ids)}", daemon=True)
        self._threads.append(t)
        t.start()

    def _work(self) -> None:
        assert self._ctx is not None
        saver: Any = None
        while True:
            item = self._queue.get()
            if item is None:
                return
            spec, done = item
            if saver is None:
                saver = self._ctx.checkpointers.new()
            slot = _Running(spec, done, threading.current_thread())
            with self._cond:
                if spec.timeout_s is not None:
                    slot.deadline = time.monotonic() + spec.timeout_s
                self._running[id(slot)] = slot
                self._cond.notify_all()
            attempt = begin(spec, saver, backend=self.name, progress=slot.progress, worker=worker_label())
            if isinstance(attempt, Attempt) and needs_async(attempt.graph):
                with self._cond:
                    self._running.pop(id(slot), None)  # its deadline is an asyncio timeout: a real cancel
                try:
                    self._hand_to_loop(attempt, done)
                except Exception as exc:  # the loop's saver could not open the store: say so, keep the thread
                    error = ErrorInfo(type=type(exc).__name__, message=f"the async execution could not start: {exc}")
                    done(ExecutionResult.of(spec, FAILED, error=error, backend=self.name))
                continue
            result = attempt if isinstance(attempt, ExecutionResult) else run_sync(attempt, saver)
            with self._cond:
                self._running.pop(id(slot), None)
                abandoned = slot.finished
                slot.finished = True
            if abandoned:
                return  # the watchdog reported the timeout and started a replacement thread
            done(result)

    def _hand_to_loop(self, attempt: Attempt, done: DoneCallback) -> None:
        from pytest_wtb.execute.aio import LoopRunner, async_saver, run_async

        assert self._ctx is not None
        with self._async_lock:
            if self._async_saver is None:  # first, so a saver that failed to open is tried again next time
                self._async_saver = async_saver(self._ctx.checkpointers, ASYNC_SAVERS)
            if self._loop is None:
                self._loop = LoopRunner(self._ctx.concurrency)
            loop, saver = self._loop, self._async_saver

        def finished(future: Any) -> None:
            if self._closed:  # cut off by close(): the batch records it as not finished, as a stuck thread
                return
            try:
                result = future.result()
            except BaseException as exc:  # cancelled at close, or a bug: the item must still hear of it
                error = ErrorInfo(type=type(exc).__name__, message=f"the async execution did not finish: {exc!r}")
                result = ExecutionResult.of(attempt.spec, FAILED, error=error, backend=self.name)
            done(result)

        loop.submit(lambda: run_async(attempt, saver)).add_done_callback(finished)

    def _watchdog(self) -> None:
        while True:
            expired: list[_Running] = []
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                deadlines = [s.deadline for s in self._running.values() if s.deadline is not None]
                for slot in list(self._running.values()):
                    if slot.deadline is not None and slot.deadline <= now and not slot.finished:
                        slot.finished = True
                        self._running.pop(id(slot), None)
                        self._abandoned.add(slot.thread)
                        expired.append(slot)
                if not expired:
                    wait = min(deadlines) - now if deadlines else None
                    self._cond.wait(timeout=wait)
                    continue
            for slot in expired:
                self._spawn()
                slot.done(
                    timeout_result(
                        slot.spec, self.name, slot.progress.started, slot.progress.nodes(), slot.thread.name
                    )
                )

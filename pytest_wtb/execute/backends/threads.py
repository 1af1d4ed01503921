"""Threads backend: a pool of daemon worker threads, each with its own checkpointer.

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
from typing import Any, ClassVar

from pytest_wtb.execute.backends.base import Backend, BackendContext, DoneCallback, timeout_result
from pytest_wtb.execute.worker import Progress, execute, worker_label
from pytest_wtb.model import ExecutionSpec


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
        return self._workers

    def start(self, context: BackendContext) -> None:
        self._ctx = context
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
            result = execute(spec, saver, backend=self.name, progress=slot.progress, worker=worker_label())
            with self._cond:
                self._running.pop(id(slot), None)
                abandoned = slot.finished
                slot.finished = True
            if abandoned:
                return  # the watchdog reported the timeout and started a replacement thread
            done(result)

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
